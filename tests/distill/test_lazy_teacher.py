"""The teacher is checked when the distiller is built, and built only when training uses it."""
import os.path as osp
import threading

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from torch import nn
from tst_testing import ROOT, fashion_runner_cfg

import tst_mm  # noqa: F401
from tst_mm.distill.model_config import resolve_model_config
from tst_mm.distill.model_skeleton import build_skeleton, parameters_on_meta
from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS

TST_CONFIG = 'configs/demo/tst_fashion-mnist.py'

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def _model_cfg():
    cfg = Config.fromfile(osp.join(ROOT, TST_CONFIG)).model
    cfg.teacher = osp.join(ROOT, cfg.teacher)
    return cfg


def test_skeleton_has_no_parameter_values_but_real_buffers():
    teacher = build_skeleton(MODELS, resolve_model_config(_model_cfg().teacher, 'teacher'))
    params = list(teacher.parameters())
    assert params and all(param.is_meta for param in params)
    mean = teacher.data_preprocessor.mean
    assert not mean.is_meta and mean.flatten().tolist() == pytest.approx([72.94])
    running = [buffer for name, buffer in teacher.named_buffers() if 'running_var' in name]
    assert running and all(torch.equal(buffer, torch.ones_like(buffer)) for buffer in running)


def test_a_skeleton_built_in_one_thread_leaves_the_others_modules_real():
    """The study builds models in threads: a skeleton in one must not reach into another,
    and interleaved skeleton builds leave torch's own ``register_parameter`` behind."""
    entered, built, second_in, first_out = (threading.Event() for _ in range(4))
    seen = {}

    def first():  # inside while the main thread builds, leaves while `second` is inside
        with parameters_on_meta():
            seen['first'] = nn.Linear(2, 2).weight.is_meta
            entered.set()
            built.wait(5)
            second_in.wait(5)
        first_out.set()

    def second():
        built.wait(5)
        with parameters_on_meta():
            second_in.set()
            first_out.wait(5)
            seen['second'] = nn.Linear(2, 2).weight.is_meta

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    entered.wait(5)
    seen['main, while another thread builds a skeleton'] = nn.Linear(2, 2).weight.is_meta
    built.set()
    for thread in threads:
        thread.join(10)
    seen['main, after'] = nn.Linear(2, 2).weight.is_meta
    assert seen == {'first': True, 'second': True,
                    'main, while another thread builds a skeleton': False, 'main, after': False}


def test_a_teacher_that_cannot_teach_is_refused_at_build_without_building_it():
    cfg = _model_cfg()
    cfg.teacher = resolve_model_config(cfg.teacher, 'teacher')
    cfg.teacher.head.num_classes = 7
    with pytest.raises(ConfigError, match='teacher has 7 classes but student has 10'):
        MODELS.build(cfg)
    cfg.teacher.head.num_classes = 10
    cfg.teacher.data_preprocessor = dict(type='ClsDataPreprocessor', mean=[0.0], std=[1.0])
    with pytest.raises(ConfigError, match='normalise inputs differently'):
        MODELS.build(cfg)


def test_first_use_builds_a_frozen_teacher_in_eval_without_drawing_random_numbers():
    distiller = MODELS.build(_model_cfg())
    assert 'teacher' not in distiller._modules
    distiller.train()
    state = torch.get_rng_state()
    teacher = distiller.teacher
    assert torch.equal(torch.get_rng_state(), state)
    assert distiller._modules['teacher'] is teacher and distiller.teacher is teacher
    assert not teacher.training
    assert not any(param.requires_grad for param in teacher.parameters())
    device = next(distiller.student.parameters()).device
    assert all(param.device == device and not param.is_meta for param in teacher.parameters())
    distiller.train()
    assert not teacher.training and distiller.student.training
    # the teacher stays out of checkpoints
    assert not any(key.startswith('teacher.') for key in distiller.state_dict())


def test_parameters_and_buffers_are_the_same_before_and_after_the_teacher_is_built():
    distiller = MODELS.build(_model_cfg())
    before = [(name, tensor.shape) for name, tensor in
              [*distiller.named_parameters(), *distiller.named_buffers()]]
    teacher = distiller.teacher
    after = [(name, tensor.shape) for name, tensor in
             [*distiller.named_parameters(), *distiller.named_buffers()]]
    assert after == before and before
    # what the state dict holds (never the teacher), and non-persistent buffers
    assert set(distiller.state_dict()) <= {name for name, _ in before}
    assert len(list(distiller.parameters())) == len(dict(distiller.named_parameters()))
    # prefixed as a wrapper's ``module.`` would be
    assert not any('teacher.' in name for name, _ in distiller.named_parameters('module'))
    # the teacher's own, and all buffers on request
    assert len(list(teacher.parameters())) > 0
    assert len(list(distiller.buffers_with_teacher())) == (
        len(list(distiller.buffers())) + len(list(teacher.buffers())))


def test_testing_the_student_neither_builds_nor_reads_the_teacher(
        fashion_mnist_root, tmp_path):
    trained = MODELS.build(_model_cfg())
    ckpt = tmp_path / 'tst.pth'
    torch.save(dict(state_dict=trained.state_dict(), meta=dict()), ckpt)
    cfg = fashion_runner_cfg(TST_CONFIG, str(tmp_path / 'no_such_teacher.pth'),
                             fashion_mnist_root, tmp_path / 'work', 'lazy')
    cfg.test_dataloader.dataset.indices = 64
    cfg.load_from = str(ckpt)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    distiller = runner.model
    assert 'teacher' not in distiller._modules
    # the student tested is the one saved
    for key, value in trained.student.state_dict().items():
        assert torch.equal(distiller.student.state_dict()[key], value), key
