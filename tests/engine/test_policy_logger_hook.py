"""The policy history (``tst_policy.jsonl``): one record per search iteration, resumes too;
what a search step's record holds, and no warning on the way."""
import json
import warnings
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from tst_testing import fashion_runner_cfg
from tst_testing_hooks import Interrupted

import tst_mm  # noqa: F401
from tst_mm.augment import LearnableAugmenter
from tst_mm.engine.hooks import TSTPolicyLoggerHook
from tst_mm.engine.hooks.policy_logger_hook import POLICY_HISTORY_FILE, drop_records_after

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


class InterruptAtSearchIter(Hook):
    """Stop the run (as Ctrl-C would) after a search step, once the policy logger wrote it."""

    priority = 'LOWEST'  # after TSTPolicyLoggerHook (LOW)

    def __init__(self, search_iter: int) -> None:
        self.search_iter = search_iter

    def after_search_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.train_loop.search_iter == self.search_iter:
            raise Interrupted


def _cfg(data_root, work_dir):
    """One search phase of 2 passes of 3 steps before the one student epoch."""
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', None, data_root, work_dir,
                             'policy_log')
    cfg.model.allow_random_teacher = True
    cfg.train_cfg.update(max_epochs=1, search_epochs=[0], search_passes=2, val_interval=10,
                         preflight=False)
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    return cfg


@pytest.mark.slow
def test_a_run_resumed_inside_a_search_pass_logs_each_search_iteration_once(
        fashion_mnist_root, tmp_path):
    """Stopped at search step 5 (in pass 2), resumed from the checkpoint of pass 1 (search
    step 3): steps 4 and 5 run again, and are in the history once."""
    interrupted = Runner.from_cfg(_cfg(fashion_mnist_root, tmp_path))
    interrupted.register_hook(InterruptAtSearchIter(5))
    with pytest.raises(Interrupted):
        interrupted.train()
    cfg = _cfg(fashion_mnist_root, tmp_path)
    cfg.resume = True
    Runner.from_cfg(cfg).train()
    with open(tmp_path / 'tst_policy.jsonl') as f:
        records = [json.loads(line) for line in f]
    assert [record['search_iter'] for record in records] == list(range(7))


def test_dropping_records_keeps_those_up_to_the_resumed_point(tmp_path):
    path = tmp_path / 'tst_policy.jsonl'
    lines = [json.dumps(dict(search_iter=i, policy={})) + '\n' for i in range(4)]
    path.write_text(''.join(lines) + '{"search_iter": 4, "pol')  # cut short by the Ctrl-C
    assert drop_records_after(str(path), 2) == 2
    assert path.read_text() == ''.join(lines[:3])
    assert drop_records_after(str(path), 2) == 0
    assert drop_records_after(str(tmp_path / 'none.jsonl'), 2) == 0


class _Visualizer:
    def __init__(self) -> None:
        self.scalars = []

    def add_scalars(self, scalars: dict, step: int) -> None:
        self.scalars.append((step, scalars))


def test_search_losses_with_their_graph_are_logged_without_a_warning(tmp_path):
    """A search step's outputs are the losses it back-propagated (requires_grad=True):
    every search pass warned 'Converting a tensor with requires_grad=True to a scalar'."""
    augmenter = LearnableAugmenter()
    runner = SimpleNamespace(model=SimpleNamespace(augmenter=augmenter), work_dir=str(tmp_path),
                             visualizer=_Visualizer(), epoch=1, iter=5,
                             train_loop=SimpleNamespace(search_iter=1))
    hook = TSTPolicyLoggerHook()
    hook._path = str(tmp_path / POLICY_HISTORY_FILE)
    loss = augmenter.probabilities().sum()  # a loss with its graph, as search_step returns
    assert loss.requires_grad
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        hook.after_search_iter(runner, 0, outputs={'loss': loss,
                                                   'augment.skipped': torch.tensor(0.0)})
    step, scalars = runner.visualizer.scalars[-1]
    assert step == 1 and scalars['search/loss'] == float(loss.detach())
    record = json.loads((tmp_path / POLICY_HISTORY_FILE).read_text().splitlines()[-1])
    assert record['losses'] == {'loss': float(loss.detach()), 'augment.skipped': 0.0}
    assert record['policy'] == augmenter.policy()
