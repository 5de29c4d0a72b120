"""The TST loop through real Runners: schedule, online mode, exact resume mid search phase."""
import json
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from tst_testing import fashion_runner_cfg
from tst_testing_hooks import InterruptAfterIter, Interrupted

import tst_mm  # noqa: F401
from tst_mm.engine import tst_train_loop
from tst_mm.utils import unwrap_model


class InterruptAfterPass(Hook):
    """Kill the run right after a given search pass (its checkpoint is already written)."""

    def __init__(self, pass_idx: int) -> None:
        self.pass_idx = pass_idx

    def after_search_pass(self, runner, epoch, pass_idx):
        if pass_idx == self.pass_idx:
            raise Interrupted


class CountSearchIters(Hook):
    """Record when search steps happen."""

    def __init__(self):
        self.at = []

    def after_search_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.at.append((runner.epoch, runner.iter))


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


@pytest.fixture
def teacher_ckpt(fashion_teacher_ckpt) -> str:
    return fashion_teacher_ckpt


def _cfg(teacher_ckpt, data_root, work_dir, **train_cfg):
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', teacher_ckpt, data_root,
                             work_dir, 'loop')
    cfg.train_cfg.update(dict(max_epochs=2, search_epochs=[1], search_passes=2,
                              val_interval=10), **train_cfg)
    cfg.param_scheduler.student[0].end = 2
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    cfg.default_hooks.logger.interval = 1
    return cfg


def _final_state(runner):
    model = runner.model
    return {key: value.clone() for key, value in model.state_dict().items()}


def _augmenter_lr(runner) -> float:
    return runner.optim_wrapper['augmenter'].optimizer.param_groups[0]['lr']


# the plateau rule made to fire after every pass but a phase's first, so that a resume that
# forgot the previous pass's loss would end with another augmenter lr
ALWAYS_PLATEAU = dict(search_passes=3, search_optim=dict(min_delta=100.0))


@pytest.mark.parametrize('train_cfg', [{}, ALWAYS_PLATEAU], ids=['defaults', 'plateau'])
def test_resume_in_the_middle_of_a_search_phase_matches_uninterrupted(
        teacher_ckpt, fashion_mnist_root, tmp_path, monkeypatch, train_cfg):
    full = Runner.from_cfg(_cfg(teacher_ckpt, fashion_mnist_root, tmp_path / 'full',
                                **train_cfg))
    full.train()
    expected = _final_state(full)
    if train_cfg:
        assert _augmenter_lr(full) == pytest.approx(0.01 * 0.9**2)

    interrupted = Runner.from_cfg(_cfg(teacher_ckpt, fashion_mnist_root, tmp_path / 'cut',
                                       **train_cfg))
    interrupted.register_hook(InterruptAfterPass(pass_idx=0))
    with pytest.raises(Interrupted):
        interrupted.train()
    with open(tmp_path / 'cut' / 'last_checkpoint') as f:
        assert f.read().endswith('search_epoch_1_pass_1.pth')

    cfg = _cfg(teacher_ckpt, fashion_mnist_root, tmp_path / 'cut', **train_cfg)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    counter = CountSearchIters()
    resumed.register_hook(counter)
    warnings = []
    monkeypatch.setattr(tst_train_loop, 'print_log',
                        lambda message, **kwargs: warnings.append(message))
    resumed.train()
    assert warnings == []  # a search-pass checkpoint is a boundary: exact, no warning
    passes_left = cfg.train_cfg.search_passes - 1
    assert len(counter.at) == 3 * passes_left  # only the passes after the first ran again
    assert _augmenter_lr(resumed) == pytest.approx(_augmenter_lr(full))
    got = _final_state(resumed)
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6,
                                   msg=f'{key} differs after resume')


class CorruptAugmenterOptimizer(Hook):
    """Before the second phase, leave the augmenter optimizer in a state a reset must undo."""

    def __init__(self):
        self.first_steps = {}

    def before_search_phase(self, runner, epoch):
        if epoch == 1:
            optimizer = runner.optim_wrapper['augmenter'].optimizer
            optimizer.param_groups[0]['lr'] = 5.0
            for param in optimizer.param_groups[0]['params']:
                optimizer.state[param]['momentum_buffer'] = torch.full_like(param, 1e6)

    def after_search_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        optimizer = runner.optim_wrapper['augmenter'].optimizer
        if runner.epoch not in self.first_steps:
            self.first_steps[runner.epoch] = (
                optimizer.param_groups[0]['lr'],
                max(float(state['momentum_buffer'].abs().max())
                    for state in optimizer.state.values()))


def test_every_search_phase_starts_with_a_fresh_augmenter_optimizer(
        teacher_ckpt, fashion_mnist_root, tmp_path):
    runner = Runner.from_cfg(_cfg(teacher_ckpt, fashion_mnist_root, tmp_path,
                                  search_epochs=[0, 1], search_passes=1))
    hook = CorruptAugmenterOptimizer()
    runner.register_hook(hook)
    runner.train()
    lr, momentum = hook.first_steps[1]
    assert lr == pytest.approx(0.01)  # the base lr, not the 5.0 left before the phase
    assert momentum < 1e3  # one step's momentum from zero, not 0.9 x 1e6
    # logged per pass: the pass means of both search terms and the lr the pass ran with
    scalars = [json.loads(line) for line in open(
        osp.join(runner.log_dir, 'vis_data', 'scalars.json'))]
    passes = [r for r in scalars if 'search_pass/loss' in r]
    assert [r['search_pass/position'] for r in passes] == [0, 1]
    assert all(r['search_pass/lr'] == pytest.approx(0.01) for r in passes)
    for record in passes:
        assert record['search_pass/loss'] == pytest.approx(
            record['search_pass/augment.loss_teacher']
            + record['search_pass/augment.loss_weakness'], rel=1e-5)


def test_resume_inside_an_epoch_warns_that_it_is_not_exact(
        teacher_ckpt, fashion_mnist_root, tmp_path, monkeypatch):
    """The epoch loop resumes exactly only from epoch and search-pass boundaries; from a
    mid-epoch checkpoint it says so (and names the loop that resumes from any iteration)."""
    def cfg():
        cfg = _cfg(teacher_ckpt, fashion_mnist_root, tmp_path, max_epochs=1, search_epochs=[])
        cfg.default_hooks.checkpoint.update(interval=1, by_epoch=False)
        return cfg

    interrupted = Runner.from_cfg(cfg())
    interrupted.register_hook(InterruptAfterIter(1))
    with pytest.raises(Interrupted):
        interrupted.train()
    resumed_cfg = cfg()
    resumed_cfg.resume = True
    resumed = Runner.from_cfg(resumed_cfg)
    warnings = []
    monkeypatch.setattr(tst_train_loop, 'print_log',
                        lambda message, **kwargs: warnings.append(message))
    resumed.train()
    assert len(warnings) == 1
    assert warnings[0].startswith('resumed at iteration 1, inside epoch 1 (which starts at '
                                  'iteration 0): a mid-epoch checkpoint')
    assert 'TSTIterBasedTrainLoop' in warnings[0]


def test_online_mode_runs_search_steps_every_n_iterations(
        teacher_ckpt, fashion_mnist_root, tmp_path):
    cfg = _cfg(teacher_ckpt, fashion_mnist_root, tmp_path, search_epochs=[],
               online=dict(interval=2, steps=1))
    runner = Runner.from_cfg(cfg)
    counter = CountSearchIters()
    runner.register_hook(counter)
    runner.train()
    assert [it for _, it in counter.at] == [2, 4, 6]  # 3 iterations per epoch, 2 epochs


def test_bad_online_settings(teacher_ckpt, fashion_mnist_root, tmp_path):
    cfg = _cfg(teacher_ckpt, fashion_mnist_root, tmp_path, online=dict(every=3))
    with pytest.raises(ValueError, match="train_cfg.online has no setting 'every'"):
        Runner.from_cfg(cfg).train()


class InterruptAfterEpoch(Hook):
    """Kill the run after an epoch, once the checkpoint hook has saved it."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) in after_train_epoch

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epochs:
            raise Interrupted


def _lookahead_cfg(teacher_ckpt, data_root, work_dir, **train_cfg):
    """The loop's config searching with the student lookahead (exact) and the learned weight
    of x', its policy stepped by Adam (whose state a resume must bring back too)."""
    cfg = _cfg(teacher_ckpt, data_root, work_dir, **train_cfg)
    for key in ('weakness_loss', 'search_loss_weights'):
        cfg.model.pop(key)
    cfg.model.search_objective = dict(type='tst_mm.StudentLookahead', estimator='exact')
    cfg.model.augmenter.learn_x_prime_weight = True
    cfg.optim_wrapper.augmenter.optimizer = dict(type='Adam', lr=0.05)
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('schedule', ['phases', 'online'])
def test_lookahead_schedules_resume_exactly(teacher_ckpt, fashion_mnist_root, tmp_path,
                                            schedule):
    """The paper's phases (cut after a search pass) and the online schedule (a lookahead step
    after every second student iteration, cut after an epoch) both resume bit for bit."""
    train_cfg = (dict(search_passes=2) if schedule == 'phases' else
                 dict(search_epochs=[], online=dict(interval=2, steps=1)))
    interrupt = InterruptAfterPass(0) if schedule == 'phases' else InterruptAfterEpoch(1)
    full = Runner.from_cfg(_lookahead_cfg(teacher_ckpt, fashion_mnist_root, tmp_path / 'full',
                                          **train_cfg))
    full.train()
    expected = _final_state(full)
    weight = float(unwrap_model(full.model).augmenter.x_prime_weight())
    assert weight != 1.0  # the lookahead moved the learned weight of x'

    interrupted = Runner.from_cfg(_lookahead_cfg(teacher_ckpt, fashion_mnist_root,
                                                 tmp_path / 'cut', **train_cfg))
    interrupted.register_hook(interrupt)
    with pytest.raises(Interrupted):
        interrupted.train()
    cfg = _lookahead_cfg(teacher_ckpt, fashion_mnist_root, tmp_path / 'cut', **train_cfg)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    got = _final_state(resumed)
    assert got.keys() == expected.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), f'{key} differs after resume'
    adam = resumed.optim_wrapper['augmenter'].optimizer.state_dict()['state']
    assert adam and all(int(state['step']) > 0 for state in adam.values())
