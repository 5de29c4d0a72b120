"""Log the augmenter's learned policy during search, for curves and ``tools/plot_policy.py``."""
import json
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils.unwrap import unwrap_model
from ..tst_train_loop import STATE_KEY

__all__ = ['TSTPolicyLoggerHook', 'POLICY_HISTORY_FILE']

#: File in the work dir with one JSON line per logged policy.
POLICY_HISTORY_FILE = 'tst_policy.jsonl'


def _augmenter(runner):
    model = unwrap_model(runner.model)
    return getattr(model, 'augmenter', None)


@HOOKS.register_module()
class TSTPolicyLoggerHook(Hook):
    """Record magnitudes and probabilities of the augmenter on every search step.

    Each record goes to the runner's visualizer as scalars (``policy/<op>/magnitude``,
    ``policy/<op>/probability`` and the search losses, stepped by search iteration, so
    TensorBoard / local backends draw curves) and as a JSON line to
    ``<work_dir>/tst_policy.jsonl``, which ``tools/plot_policy.py`` draws. The policy is also
    recorded once before training, so curves start at the initial policy.

    Args:
        interval: Record every this many search iterations.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 1) -> None:
        self.interval = interval
        self._path: Optional[str] = None

    def before_train(self, runner) -> None:
        self._path = osp.join(runner.work_dir, POLICY_HISTORY_FILE)
        search_iter = runner.message_hub.get_info(STATE_KEY, {}).get('search_iter', 0)
        if search_iter == 0:  # a fresh run (not a resumed one) starts a fresh history
            if is_main_process() and osp.exists(self._path):
                open(self._path, 'w').close()
            self._record(runner, search_iter, {})

    def after_search_iter(self, runner, batch_idx: int, data_batch=None,
                          outputs: Optional[dict] = None) -> None:
        search_iter = runner.train_loop.search_iter
        if search_iter % self.interval == 0:
            self._record(runner, search_iter, outputs or {})

    def _record(self, runner, search_iter: int, outputs: dict) -> None:
        augmenter = _augmenter(runner)
        if augmenter is None or not hasattr(augmenter, 'policy'):
            return
        policy = augmenter.policy()
        scalars = {f'search/{key}': float(value) for key, value in outputs.items()}
        for op, entry in policy.items():
            scalars[f'policy/{op}/probability'] = entry['probability']
            if entry['magnitude'] is not None:
                scalars[f'policy/{op}/magnitude'] = entry['magnitude']
        runner.visualizer.add_scalars(scalars, step=search_iter)
        if is_main_process():
            record = dict(search_iter=search_iter, epoch=runner.epoch, iter=runner.iter,
                          policy=policy,
                          losses={key: float(value) for key, value in outputs.items()})
            with open(self._path, 'a') as f:
                f.write(json.dumps(record) + '\n')
