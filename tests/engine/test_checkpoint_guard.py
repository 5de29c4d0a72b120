"""While a TST part skips its steps, no checkpoint replaces the last good one (real Runners)."""
import os.path as osp

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner
from tst_testing import fashion_runner_cfg

import tst_mm  # noqa: F401
from tst_mm.distill.update import TrainingDiverged
from tst_mm.engine import TSTCheckpointHook
from tst_mm.utils import unwrap_model

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def _cfg(data_root, work_dir, **train_cfg):
    """The demo config at toy size (3 student iterations an epoch), a random teacher,
    its own ``max_keep_ckpts=2`` kept."""
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', None, data_root, work_dir,
                             'ckpt_guard')
    cfg.model.allow_random_teacher = True
    cfg.train_cfg.update(dict(val_interval=10, preflight=False), **train_cfg)
    cfg.custom_hooks = []
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 2
    return cfg


def _last_checkpoint(work_dir) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


@pytest.mark.slow
def test_a_diverged_run_keeps_the_checkpoint_its_error_names(fashion_mnist_root, tmp_path):
    """Student lr x1e31 from epoch 2: its first update there explodes the student, and every
    later step is skipped through the rest of epoch 2, a search phase and epoch 3, until the
    sixth skip in a row stops the run. Neither the epoch checkpoints nor the search-pass one
    due meanwhile are saved, so rotation (``max_keep_ckpts=2``) keeps ``epoch_1.pth``, which
    the error names and ``last_checkpoint`` still points at."""
    cfg = _cfg(fashion_mnist_root, tmp_path, max_epochs=4, search_epochs=[2])
    cfg.model.max_consecutive_skips = 6
    cfg.param_scheduler.student = [dict(type='MultiStepLR', by_epoch=True, milestones=[1],
                                        gamma=1e31)]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TrainingDiverged) as info:
        runner.train()
    good = str(tmp_path / 'epoch_1.pth')
    assert f'the last checkpoint saved before its last update is {good};' in str(info.value)
    assert osp.exists(good)
    assert _last_checkpoint(tmp_path) == good
    saved = sorted(name for name in map(osp.basename, tmp_path.iterdir())
                   if name.endswith('.pth'))
    assert saved == ['epoch_1.pth']  # not epoch_2, search_epoch_2_pass_1, epoch_3
    assert [type(hook) for hook in runner.hooks].count(TSTCheckpointHook) == 1


class SkipLastStepOfEpoch1(Hook):
    """Count the student's last step of epoch 1 as skipped, before its checkpoint is due."""

    priority = 'LOW'  # before CheckpointHook (VERY_LOW) in after_train_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == 3:
            unwrap_model(runner.model).parts['student'].skips.skipped()


@pytest.mark.slow
def test_checkpoints_are_saved_again_after_the_next_applied_update(fashion_mnist_root,
                                                                    tmp_path):
    """A skip at the end of epoch 1 withholds only that epoch's checkpoint: the first
    update of epoch 2 applies, so epoch 2's checkpoint is saved and named."""
    runner = Runner.from_cfg(_cfg(fashion_mnist_root, tmp_path, max_epochs=2,
                                  search_epochs=[]))
    runner.register_hook(SkipLastStepOfEpoch1())
    runner.train()
    assert not (tmp_path / 'epoch_1.pth').exists()
    assert (tmp_path / 'epoch_2.pth').exists()
    assert _last_checkpoint(tmp_path) == str(tmp_path / 'epoch_2.pth')


@pytest.mark.slow
def test_last_checkpoint_names_the_good_one_when_the_exploding_update_ends_an_epoch(
        fashion_mnist_root, tmp_path):
    """Student lr x1e31 for the last iteration of epoch 2 only: its checkpoint is due before
    any step is skipped, so it holds the exploded student; when the skips of epoch 3 stop the
    run, ``last_checkpoint`` names ``epoch_1.pth`` again, as the error does."""
    cfg = _cfg(fashion_mnist_root, tmp_path, max_epochs=4, search_epochs=[])
    cfg.model.max_consecutive_skips = 3
    cfg.param_scheduler.student = [dict(type='MultiStepLR', by_epoch=False, milestones=[5],
                                        gamma=1e31)]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TrainingDiverged) as info:
        runner.train()
    good = str(tmp_path / 'epoch_1.pth')
    assert f'the last checkpoint saved before its last update is {good};' in str(info.value)
    assert (tmp_path / 'epoch_2.pth').exists()  # saved before the first skip: nothing knew
    assert _last_checkpoint(tmp_path) == good
