"""SyncBN (``sync_bn='torch'``): the student's BN layers sync, the frozen teacher is untouched.

What can run on CPU: torch 2.14's ``SyncBatchNorm`` refuses a *training-mode* forward on CPU
tensors whenever a process group is initialised, even with one rank ("SyncBatchNorm expected
input tensor to be on GPU or XPU"), so a distillation step with a SyncBN student (and the
syncing of statistics across gloo ranks) cannot run here. What these tests check on CPU: the
conversion through a real distributed Runner (one-rank gloo group) and the wrapper, the
teacher's layer classes, eval mode and very tensors, and a search step (the student is in
eval mode there, so its SyncBN layers run) that backpropagates through the teacher to the
augmenter and leaves the teacher exactly as it was.
"""
import os.path as osp
import uuid

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.model import convert_sync_batchnorm
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from torch import nn
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.engine import TSTDistributedWrapper
from tst_mm.registry import MODELS

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


def _cfg(work_dir=None, data_root=None) -> Config:
    cfg = Config.fromfile(TST_CONFIG)
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = None  # random teacher: only its layers and tensors matter here
    cfg.model.allow_random_teacher = True
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
        cfg.experiment_name = f'syncbn_{uuid.uuid4().hex[:8]}'
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = data_root
        cfg.train_dataloader.dataset.indices = 64
        cfg.train_dataloader.batch_size = 32
        cfg.val_dataloader.dataset.indices = 32
        cfg.train_cfg.update(max_epochs=1, search_epochs=[0], val_interval=10)
        cfg.param_scheduler.student[0].end = 1
        cfg.custom_hooks = []
        cfg.default_hooks.checkpoint.interval = 10
    return cfg


def _norms(module: nn.Module) -> dict:
    return {name: layer for name, layer in module.named_modules()
            if isinstance(layer, nn.modules.batchnorm._BatchNorm)}


def _teacher_tensors(distiller) -> dict:
    teacher = distiller.teacher
    return {name: value.detach().clone() for name, value in
            list(teacher.named_parameters()) + list(teacher.named_buffers())}


def test_wrapper_gives_the_teacher_its_plain_bn_back():
    distiller = MODELS.build(_cfg().model)
    teacher_norms = _norms(distiller.teacher)
    assert teacher_norms and all(type(layer) is nn.BatchNorm2d
                                 for layer in teacher_norms.values())
    tensors = {name: value for name, value in
               list(distiller.teacher.named_parameters()) + list(distiller.teacher.named_buffers())}
    converted = convert_sync_batchnorm(distiller, 'torch')  # what the Runner does with sync_bn
    assert all(isinstance(layer, nn.SyncBatchNorm) for layer in _norms(converted.teacher).values())

    wrapped = TSTDistributedWrapper(converted)  # no process group: nothing to broadcast
    student = _norms(wrapped.module.student)
    assert student and all(type(layer) is nn.SyncBatchNorm for layer in student.values())
    teacher = _norms(wrapped.module.teacher)
    assert teacher.keys() == teacher_norms.keys()
    for name, layer in teacher.items():
        assert type(layer) is nn.BatchNorm2d, name
        assert not layer.training, name
        assert not any(param.requires_grad for param in layer.parameters()), name
    # the very same tensors as before the conversion: nothing copied, reset or re-initialised
    after = dict(list(wrapped.module.teacher.named_parameters())
                 + list(wrapped.module.teacher.named_buffers()))
    assert after.keys() == tensors.keys()
    assert all(after[name] is tensors[name] for name in tensors)
    assert wrapped.module.restore_teacher_norm_layers() == []  # idempotent


@pytest.fixture
def one_rank_gloo(tmp_path):
    """A one-process gloo group, torn down afterwards (other tests run without one)."""
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg_store', rank=0,
                            world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_runner_with_sync_bn_converts_student_only_and_search_step_keeps_teacher(
        one_rank_gloo, fashion_mnist_root, tmp_path):
    cfg = _cfg(tmp_path, fashion_mnist_root)
    cfg.sync_bn = 'torch'
    cfg.launcher = 'pytorch'  # distributed Runner; it reuses the group already initialised
    cfg.model_wrapper_cfg = dict(type='tst_mm.TSTDistributedWrapper')
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.model, TSTDistributedWrapper)
    distiller = runner.model.module
    student = _norms(distiller.student)
    assert student and all(type(layer) is nn.SyncBatchNorm for layer in student.values())
    before = _teacher_tensors(distiller)
    augmenter_before = distiller.augmenter.probability_logits.detach().clone()

    optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    batch = next(iter(runner.build_dataloader(runner._train_dataloader)))
    runner.model.train()
    distiller.set_phase('search')
    losses = runner.model.train_step(batch, optim_wrapper=optim_wrapper)
    assert {'augment.loss_teacher', 'augment.loss_weakness'} <= set(losses)
    assert not torch.equal(distiller.augmenter.probability_logits, augmenter_before)

    teacher = _norms(distiller.teacher)
    assert teacher and all(type(layer) is nn.BatchNorm2d and not layer.training
                           for layer in teacher.values())
    after = _teacher_tensors(distiller)
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0,
                                   msg=f'teacher {name} changed')
