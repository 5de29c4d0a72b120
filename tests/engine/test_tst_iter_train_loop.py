"""The iteration-based TST loop through real Runners on the segmentation scenes: schedule,
hook points, online mode, exact resume in the middle of a search phase and in the middle of a
distillation phase."""
import copy
import glob
import os.path as osp
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from tst_testing import ROOT
from tst_testing_hooks import InterruptAfterIter, Interrupted

import tst_mm  # noqa: F401
from tst_mm.engine.tst_search_mixin import STATE_KEY

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_pspnet_scenes.py')


class InterruptAfterPass(Hook):
    """Kill the run right after a given search pass (its checkpoint is already written)."""

    def __init__(self, at: int, pass_idx: int) -> None:
        self.at, self.pass_idx = at, pass_idx

    def after_search_pass(self, runner, iter, pass_idx):
        if (iter, pass_idx) == (self.at, self.pass_idx):
            raise Interrupted


class RecordSearch(Hook):
    """Record the student iteration of every search step and the phase hook calls."""

    def __init__(self):
        self.steps, self.phases, self.passes = [], [], []

    def before_search_phase(self, runner, iter):
        self.phases.append(('before', iter))

    def after_search_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        assert {'augment.loss_teacher', 'augment.loss_weakness'} <= set(outputs)
        self.steps.append(runner.iter)

    def after_search_pass(self, runner, iter, pass_idx):
        self.passes.append((iter, pass_idx))

    def after_search_phase(self, runner, iter):
        self.phases.append(('after', iter))


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Other test modules may leave mmpretrain / mmdet as the process-wide default scope."""
    init_default_scope('mmseg')
    DefaultScope.overwrite_default_scope('mmseg').__enter__()
    yield


def _cfg(scenes_root, work_dir, **train_cfg):
    """The PSPNet TST demo, shrunk: the student as its own (random) teacher, batch 2."""
    cfg = Config.fromfile(TST_CONFIG)
    cfg.model.teacher = copy.deepcopy(cfg.model.student)
    cfg.model.teacher_ckpt = None
    cfg.model.allow_random_teacher = True
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'iterloop_{uuid.uuid4().hex[:8]}'
    root = osp.join(scenes_root, 'cityscapes') + '/'
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.update(dict(max_iters=4, search_at=[0, 2], search_iters=2, search_passes=2,
                              val_begin=1000, log_interval=1), **train_cfg)
    cfg.param_scheduler.student[0].end = 4
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1000
    return cfg


def _final_state(runner):
    return {key: value.clone() for key, value in runner.model.state_dict().items()}


def test_schedule_hooks_checkpoints_and_state(scenes_root, tmp_path):
    cfg = _cfg(scenes_root, tmp_path)
    cfg.custom_hooks.append(dict(type='tst_mm.TSTSampleGridHook', num_samples=2))
    runner = Runner.from_cfg(cfg)
    record = RecordSearch()
    runner.register_hook(record)
    runner.train()
    # 2 phases x 2 passes x 2 steps, before student iterations 0 and 2; 4 student iterations
    assert record.steps == [0, 0, 0, 0, 2, 2, 2, 2]
    assert record.passes == [(0, 0), (0, 1), (2, 0), (2, 1)]
    assert record.phases == [('before', 0), ('after', 0), ('before', 2), ('after', 2)]
    assert runner.iter == 4
    state = runner.message_hub.get_info(STATE_KEY)
    assert state.pop('search_optim')['previous_loss'] > 0  # the last pass's mean search loss
    assert state == dict(iter=2, passes_done=2, search_iter=8, search_batches=8)
    # search-pass checkpoints are rotated like the others: the newest max_keep_ckpts stay
    keep = runner.cfg.default_hooks.checkpoint.max_keep_ckpts
    saved = [f'search_iter_{at}_pass_{pass_no}.pth' for at in (0, 2) for pass_no in (1, 2)]
    assert sorted(osp.basename(path) for path in glob.glob(str(tmp_path / 'search_*'))) == \
        sorted(saved[-keep:])
    for at in (0, 2):
        assert osp.exists(tmp_path / 'tst_samples' / f'after_search_at_iter_{at}.png')


def test_resume_in_the_middle_of_a_search_phase_matches_uninterrupted(scenes_root, tmp_path):
    options = dict(search_iters=1)  # 2 phases x 2 passes x 1 step
    full = Runner.from_cfg(_cfg(scenes_root, tmp_path / 'full', **options))
    full.train()
    expected = _final_state(full)

    interrupted = Runner.from_cfg(_cfg(scenes_root, tmp_path / 'cut', **options))
    interrupted.register_hook(InterruptAfterPass(at=2, pass_idx=0))
    with pytest.raises(Interrupted):
        interrupted.train()
    with open(tmp_path / 'cut' / 'last_checkpoint') as f:
        assert f.read().endswith('search_iter_2_pass_1.pth')

    cfg = _cfg(scenes_root, tmp_path / 'cut', **options)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    record = RecordSearch()
    resumed.register_hook(record)
    resumed.train()
    assert record.steps == [2]  # only the second pass of the phase at iteration 2
    got = _final_state(resumed)
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6,
                                   msg=f'{key} differs after resume')


@pytest.mark.slow
def test_resume_in_the_middle_of_a_distillation_phase_matches_uninterrupted(
        scenes_root, tmp_path):
    """Stopped after student iteration 3 of 6 (phases before iterations 0 and 4): resumed from
    iter_3.pth, the run skips the 3 + 2 batches already drawn and ends as the full run."""
    options = dict(max_iters=6, search_at=[0, 4], search_iters=1)
    checkpoints = dict(interval=1, by_epoch=False, max_keep_ckpts=1)

    def cfg(work_dir):
        cfg = _cfg(scenes_root, work_dir, **options)
        cfg.param_scheduler.student[0].end = 6
        cfg.default_hooks.checkpoint.update(checkpoints)
        return cfg

    full = Runner.from_cfg(cfg(tmp_path / 'full'))
    full_record = RecordSearch()
    full.register_hook(full_record)
    full.train()
    expected = _final_state(full)

    interrupted = Runner.from_cfg(cfg(tmp_path / 'cut'))
    interrupted.register_hook(InterruptAfterIter(3))
    with pytest.raises(Interrupted):
        interrupted.train()
    with open(tmp_path / 'cut' / 'last_checkpoint') as f:
        assert f.read().endswith('iter_3.pth')

    resumed_cfg = cfg(tmp_path / 'cut')
    resumed_cfg.resume = True
    resumed = Runner.from_cfg(resumed_cfg)
    record = RecordSearch()
    resumed.register_hook(record)
    resumed.train()
    assert full_record.steps == [0, 0, 4, 4]
    assert record.steps == [4, 4]  # the phase at 0 is not run again; the one at 4 is
    assert resumed.iter == 6
    got = _final_state(resumed)
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6,
                                   msg=f'{key} differs after resume')


def test_online_mode_runs_search_steps_every_n_iterations(scenes_root, tmp_path):
    cfg = _cfg(scenes_root, tmp_path, search_at=[], online=dict(interval=2, steps=1))
    runner = Runner.from_cfg(cfg)
    record = RecordSearch()
    runner.register_hook(record)
    runner.train()
    assert record.steps == [2, 4]


@pytest.mark.parametrize('settings, message', [
    (dict(search_at=[0, 4]), r'search_at \[4\] lie outside'),
    (dict(search_iters=0), 'search_iters must be >= 1'),
    (dict(search_passes=0), 'search_passes must be >= 1'),
    (dict(online=dict(every=3)), "train_cfg.online has no setting 'every'"),
    (dict(online=dict(interval=0)), 'online must be')])
def test_bad_settings(scenes_root, tmp_path, settings, message):
    runner = Runner.from_cfg(_cfg(scenes_root, tmp_path, **settings))
    with pytest.raises(ValueError, match=message):
        runner.train()
