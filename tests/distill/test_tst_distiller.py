"""TSTDistiller on real mmpretrain classifiers and a teacher trained here on Fashion-MNIST."""
import copy
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT, run_tool

import tst_mm  # noqa: F401
from tst_mm.distill import TeacherCheckpointError
from tst_mm.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from tst_mm.utils import last_logged_scalar

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')
TEACHER_CONFIG = osp.join(ROOT, 'configs/demo/resnet18-tiny_fashion-mnist.py')


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Other test modules may leave mmdet / mmseg as the process-wide default scope."""
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


@pytest.fixture
def teacher_ckpt(fashion_teacher_ckpt) -> str:
    return fashion_teacher_ckpt


def _model_cfg(teacher_ckpt, **overrides) -> ConfigDict:
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher = osp.join(ROOT, cfg.teacher)
    cfg.teacher_ckpt = teacher_ckpt
    cfg.update(overrides)
    return cfg


def _batch(fashion_mnist_root, num=16):
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=fashion_mnist_root,
                                  split='train', download=False,
                                  pipeline=[dict(type='PackInputs')], indices=num))
    return pseudo_collate([dataset[i] for i in range(num)])


def _optim(model):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            student=dict(optimizer=dict(type='SGD', lr=0.1)),
            augmenter=dict(optimizer=dict(type='SGD', lr=1.0)))))
    return constructor(model)


def test_teacher_loaded_strictly_frozen_and_not_saved(teacher_ckpt):
    model = MODELS.build(_model_cfg(teacher_ckpt))
    saved = torch.load(teacher_ckpt)['state_dict']
    # loaded when training starts (the Runner calls init_weights), not when built
    assert not torch.equal(model.teacher.state_dict()['head.fc.weight'], saved['head.fc.weight'])
    model.init_weights()
    assert model.teacher_classes == tuple(torch.load(teacher_ckpt)['meta']['dataset_meta'][
        'classes'])
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert not any(p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert not model.teacher.training and model.student.training
    state = model.state_dict()
    assert not any(key.startswith('teacher.') for key in state)
    assert any(key.startswith('student.') for key in state)
    assert any(key.startswith('augmenter.') for key in state)
    # loading our own checkpoint back does not complain about the teacher
    incompatible = model.load_state_dict(state, strict=True)
    assert not incompatible.missing_keys
    # the teacher survives init_weights (the Runner calls it before training)
    model.init_weights()
    assert torch.equal(next(iter(model.teacher.state_dict().values())),
                       next(iter(saved.values())))


def test_teacher_and_student_dicts_resolve_in_the_task_scope(teacher_ckpt):
    model = MODELS.build(_model_cfg(teacher_ckpt))
    assert type(model.student).__module__.startswith('mmpretrain.')
    assert type(model.teacher).__module__.startswith('mmpretrain.')
    assert type(model.augmenter).__module__.startswith('tst_mm.')


def test_missing_teacher_checkpoint(tmp_path):
    model = MODELS.build(_model_cfg(str(tmp_path / 'missing.pth')))  # testing needs no teacher
    with pytest.raises(TeacherCheckpointError, match='teacher_ckpt not found'):
        model.init_weights()


def test_training_with_a_random_teacher_is_refused_unless_meant(fashion_mnist_root):
    model = MODELS.build(_model_cfg(None))
    model.train()
    with pytest.raises(TeacherCheckpointError, match='model.teacher_ckpt is None'):
        model.train_step(_batch(fashion_mnist_root), _optim(model))
    model = MODELS.build(_model_cfg(None, allow_random_teacher=True))
    model.train()
    assert 'distill.loss_kd' in model.train_step(_batch(fashion_mnist_root), _optim(model))


def test_teacher_checkpoint_of_another_architecture(teacher_ckpt, tmp_path):
    cfg = _model_cfg(teacher_ckpt)
    student = MODELS.build(cfg.student)
    wrong = tmp_path / 'student_as_teacher.pth'
    torch.save(dict(state_dict=student.state_dict()), wrong)
    model = MODELS.build(_model_cfg(str(wrong)))
    with pytest.raises(TeacherCheckpointError, match='shape mismatches') as err:
        model.init_weights()
    assert 'backbone.conv1.weight' in str(err.value)


def test_class_count_mismatch(teacher_ckpt):
    cfg = _model_cfg(teacher_ckpt)
    cfg.student.head.num_classes = 7
    with pytest.raises(ValueError, match='teacher has 10 classes but student has 7'):
        MODELS.build(cfg)


def test_normalisation_mismatch(teacher_ckpt):
    cfg = _model_cfg(teacher_ckpt)
    cfg.student.data_preprocessor = dict(cfg.student.data_preprocessor, mean=[0.0], std=[1.0])
    with pytest.raises(ValueError, match='normalise inputs differently'):
        MODELS.build(cfg)


def test_unknown_op_name(teacher_ckpt):
    cfg = _model_cfg(teacher_ckpt)
    cfg.augmenter.ops = ['brightness', 'wobble']
    with pytest.raises(ValueError, match='wobble'):
        MODELS.build(cfg)


def test_distill_step_trains_only_the_student(teacher_ckpt, fashion_mnist_root):
    model = MODELS.build(_model_cfg(teacher_ckpt))
    model.load_teacher()
    model.train()
    optim = _optim(model)
    before = copy.deepcopy(model.state_dict(keep_vars=False))
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    log_vars = model.train_step(_batch(fashion_mnist_root), optim)
    assert {'student.loss', 'distill.loss_kd', 'loss'} <= set(log_vars)
    after = model.state_dict()
    assert not torch.equal(before['student.head.fc.weight'], after['student.head.fc.weight'])
    assert torch.equal(before['augmenter.probability_logits'],
                       after['augmenter.probability_logits'])
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key


def test_search_step_trains_only_the_augmenter(teacher_ckpt, fashion_mnist_root):
    model = MODELS.build(_model_cfg(teacher_ckpt))
    model.train()
    optim = _optim(model)
    student_before = copy.deepcopy(model.student.state_dict())
    policy_before = model.augmenter.policy()
    model.set_phase('search')
    log_vars = model.train_step(_batch(fashion_mnist_root), optim)
    assert {'augment.loss_teacher', 'augment.loss_weakness'} <= set(log_vars)
    for key, value in model.student.state_dict().items():
        assert torch.equal(value, student_before[key]), key
    assert all(p.grad is None or not p.grad.any() for p in model.student.parameters())
    assert all(p.requires_grad for p in model.student.parameters())
    assert model.student.training
    policy_after = model.augmenter.policy()
    assert any(policy_after[op]['probability'] != policy_before[op]['probability']
               for op in policy_before)


def test_non_finite_search_step_keeps_last_good_policy(teacher_ckpt, fashion_mnist_root):
    model = MODELS.build(_model_cfg(teacher_ckpt))
    model.train()
    optim = _optim(model)
    model.set_phase('search')
    batch = _batch(fashion_mnist_root)
    model.train_step(batch, optim)
    good = model.augmenter.policy()
    batch['inputs'][0] = batch['inputs'][0].float() * float('nan')
    model.train_step(batch, optim)
    assert model.augmenter.policy() == good


def test_search_schedule_beyond_training_length(teacher_ckpt, fashion_mnist_root, tmp_path):
    from mmengine.runner import Runner
    cfg = Config.fromfile(TST_CONFIG)
    cfg.model = _model_cfg(teacher_ckpt)
    cfg.work_dir = str(tmp_path)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = fashion_mnist_root
    cfg.train_cfg.search_epochs = [1, 9]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r'search_epochs \[9\] lie outside'):
        runner.train()


@pytest.mark.slow
def test_tst_demo_trains_tests_exports(teacher_ckpt, fashion_mnist_root, tmp_path):
    work_dir = str(tmp_path / 'tst')
    options = [f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
               for split in ('train', 'val', 'test')] + [
        f'model.teacher_ckpt={teacher_ckpt}', 'train_dataloader.dataset.indices=512',
        'val_dataloader.dataset.indices=256', 'test_dataloader.dataset.indices=256',
        'train_cfg.max_epochs=2', 'train_cfg.search_epochs=[1]',
        'param_scheduler.student.0.end=2']
    proc = run_tool('tools/train.py', TST_CONFIG, '--work-dir', work_dir, '--cfg-options',
                    *options)
    assert 'TST teacher on the validation set: teacher.accuracy/top1' in proc.stdout + proc.stderr
    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    saved = torch.load(checkpoint)
    assert not any(key.startswith('teacher.') for key in saved['state_dict'])
    assert osp.exists(osp.join(work_dir, 'search_epoch_1_pass_1.pth'))
    with open(osp.join(work_dir, 'tst_policy.jsonl')) as f:
        records = f.read().splitlines()
    assert len(records) > 1  # the initial policy plus one record per search step
    assert glob.glob(osp.join(work_dir, 'tst_samples', '*.png'))

    # tools/test.py scores the student of the last checkpoint exactly as the last validation
    # did (val and test are the same 256 images), and needs no teacher checkpoint for it
    logged = last_logged_scalar(work_dir, 'accuracy/top1')
    run_tool('tools/test.py', TST_CONFIG, checkpoint, '--work-dir', str(tmp_path / 'test'),
             '--cfg-options', *options, 'model.teacher_ckpt=/nowhere/teacher.pth')
    # mmengine's LoggerHook dumps the test metrics to <work_dir>/<timestamp>/<timestamp>.json
    (tested, ) = glob.glob(str(tmp_path / 'test' / '*' / '*.json'))
    with open(tested) as f:
        assert json.load(f)['accuracy/top1'] == logged

    run_tool('tools/plot_policy.py', work_dir)
    assert osp.getsize(osp.join(work_dir, 'tst_policy.png')) > 10_000

    exported = str(tmp_path / 'student.pth')
    run_tool('tools/export_student.py', checkpoint, exported, '--config', TST_CONFIG,
             '--cfg-options', *options)
    student_keys = {key[len('student.'):] for key in saved['state_dict']
                    if key.startswith('student.')}
    assert set(torch.load(exported)['state_dict']) == student_keys
    # the student inside the TST checkpoint, on fixed inputs
    model = MODELS.build(_model_cfg(teacher_ckpt))
    model.load_state_dict(saved['state_dict'], strict=True)
    model.eval()
    inputs = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.save(inputs, tmp_path / 'inputs.pth')
    with torch.no_grad():
        expected = model.student(inputs, mode='tensor')
    # A process that never imports tst_mm: stock mmengine + mmpretrain load the exported
    # student strictly, give the same outputs and test it.
    script = tmp_path / 'plain_test.py'
    script.write_text(
        'import sys\n'
        'import torch\n'
        'from mmengine.config import Config\n'
        'from mmengine.registry import MODELS, init_default_scope\n'
        'from mmengine.runner import Runner\n'
        f'cfg = Config.fromfile({str(tmp_path / "student.py")!r})\n'
        'init_default_scope(cfg.default_scope)\n'
        'model = MODELS.build(cfg.model).eval()\n'
        f'model.load_state_dict(torch.load({exported!r})["state_dict"], strict=True)\n'
        'with torch.no_grad():\n'
        f'    out = model(torch.load({str(tmp_path / "inputs.pth")!r}), mode="tensor")\n'
        f'torch.save(out, {str(tmp_path / "plain_out.pth")!r})\n'
        f'cfg.work_dir = {str(tmp_path / "plain")!r}\n'
        f'cfg.load_from = {exported!r}\n'
        'metrics = Runner.from_cfg(cfg).test()\n'
        "assert not any(name.startswith('tst_mm') for name in sys.modules), 'tst_mm imported'\n"
        "print('PLAIN_TOP1', metrics['accuracy/top1'])\n")
    proc = run_tool(str(script), cwd=str(tmp_path))
    assert torch.equal(torch.load(tmp_path / 'plain_out.pth'), expected)
    assert float(proc.stdout.split('PLAIN_TOP1')[1]) == logged
