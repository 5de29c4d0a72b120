"""The TST loops, the preflight and the DDP wrapper drive the distiller only through
``TSTDistillerContract``: ``search_step`` and ``distill_step``, never ``train_step`` or a
phase set on the model."""
from typing import List

import pytest
import torch
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from tst_testing import fashion_runner_cfg

import tst_mm  # noqa: F401
from tst_mm.distill import TSTDistiller
from tst_mm.distill.contract import TSTDistillerContract
from tst_mm.engine import TSTDistributedWrapper
from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS


@MODELS.register_module(force=True)
class ContractOnlyDistiller(TSTDistiller):
    """A TSTDistiller that records the contract's steps and refuses the stock entries."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls: List[str] = []

    def search_step(self, data, optim_wrapper):
        self.calls.append('search')
        return super().search_step(data, optim_wrapper)

    def distill_step(self, data, optim_wrapper):
        self.calls.append('distill')
        return super().distill_step(data, optim_wrapper)

    def train_step(self, data, optim_wrapper):
        raise AssertionError('a TST loop called the stock train_step')

    def set_phase(self, phase):
        raise AssertionError(f'a TST loop set the phase {phase!r}')


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


def _cfg(data_root, work_dir, loop: str):
    """192 images in 3 batches; a search phase of 2 passes before the first student
    iteration, and one online search step after every second student iteration."""
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', None, data_root, work_dir,
                             'contract')
    cfg.model.type = 'tst_mm.ContractOnlyDistiller'
    cfg.model.allow_random_teacher = True
    online = dict(interval=2, steps=1)
    if loop == 'epoch':
        cfg.train_cfg.update(dict(max_epochs=1, search_epochs=[0], search_passes=2,
                                  online=online, val_interval=10))
        cfg.param_scheduler.student[0].end = 1
    else:
        cfg.train_cfg = dict(type='tst_mm.TSTIterBasedTrainLoop', max_iters=3, search_at=[0],
                             search_iters=3, search_passes=2, online=online,
                             val_interval=1000)
        cfg.param_scheduler.student = [dict(type='CosineAnnealingLR', by_epoch=False,
                                            begin=0, end=3)]
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint.interval = 1000
    return cfg


@pytest.mark.parametrize('loop', ['epoch', 'iter'])
def test_loops_run_only_the_contract_steps(fashion_mnist_root, tmp_path, loop):
    runner = Runner.from_cfg(_cfg(fashion_mnist_root, tmp_path, loop))
    runner.train()
    model = runner.model
    assert isinstance(model, TSTDistillerContract)
    # preflight (one of each, undone), the phase (2 passes of 3 batches), then 3 student
    # iterations with an online search step after the second
    assert model.calls == (['search', 'distill'] + ['search'] * 6
                           + ['distill', 'distill', 'search', 'distill'])
    assert not hasattr(model, 'phase')
    assert runner.iter == 3


def test_wrapper_delegates_each_contract_step(fashion_mnist_root, tmp_path):
    runner = Runner.from_cfg(_cfg(fashion_mnist_root, tmp_path, 'epoch'))
    model = runner.model
    model.init_weights()
    wrapper = TSTDistributedWrapper(model)  # one process: nothing to broadcast
    batch = next(iter(runner.build_dataloader(runner._train_dataloader)))
    optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)

    augmenter = [param.detach().clone() for param in model.augmenter.parameters()]
    student = [param.detach().clone() for param in model.student.parameters()]
    outputs = wrapper.search_step(batch, optim_wrapper)
    assert model.calls == ['search'] and 'augment.loss_teacher' in outputs
    assert any(not torch.equal(a, b) for a, b in zip(augmenter, model.augmenter.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(student, model.student.parameters()))

    augmenter = [param.detach().clone() for param in model.augmenter.parameters()]
    outputs = wrapper.distill_step(batch, optim_wrapper)
    assert model.calls == ['search', 'distill'] and outputs['student.skipped_steps'] == 0
    assert any(not torch.equal(a, b) for a, b in zip(student, model.student.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(augmenter, model.augmenter.parameters()))


def test_a_model_without_the_contract_is_refused_in_one_line(fashion_mnist_root, tmp_path):
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', None, fashion_mnist_root,
                             tmp_path, 'contract')
    cfg.model = cfg.model.student  # a plain classifier under the TST loop
    cfg.optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
    cfg.param_scheduler = None
    cfg.custom_hooks = []
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ConfigError) as info:
        runner.train()
    assert type(info.value) is ConfigError
    assert 'not a ImageClassifier' in str(info.value)
