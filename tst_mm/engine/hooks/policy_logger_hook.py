"""Log the augmenter's learned policy during search, for curves and ``tools/plot_policy.py``."""
import json
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils.unwrap import unwrap_model
from ..tst_train_loop import STATE_KEY

__all__ = ['TSTPolicyLoggerHook', 'POLICY_HISTORY_FILE']

#: File in the work dir with one JSON line per logged policy.
POLICY_HISTORY_FILE = 'tst_policy.jsonl'


def drop_records_after(path: str, search_iter: int) -> int:
    """Drop the records of a policy history past ``search_iter`` (and lines an interruption
    cut short), so that a resumed run that logs those search iterations again logs them once.

    Args:
        path: The ``tst_policy.jsonl`` file (nothing happens if it does not exist).
        search_iter: The last search iteration to keep.

    Returns:
        How many lines were dropped.
    """
    if not osp.exists(path):
        return 0
    with open(path) as f:
        lines = f.readlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # cut short: the run was stopped while writing it
        if record.get('search_iter', search_iter + 1) <= search_iter:
            kept.append(line if line.endswith('\n') else line + '\n')
    if len(kept) < len(lines):
        with open(path + '.tmp', 'w') as f:
            f.writelines(kept)
        os.replace(path + '.tmp', path)  # a second interruption leaves one whole file
    return len(lines) - len(kept)


def _scalar(value) -> float:
    """A logged output as a float; the search losses come with their graph, which ``float``
    would warn about (``Converting a tensor with requires_grad=True to a scalar``)."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


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
    recorded once before training, so curves start at the initial policy. A resumed run
    first drops the records past the search iteration it resumes from (an interrupted run
    logged them, and logs them again), so each search iteration has one record.

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
        elif is_main_process():
            dropped = drop_records_after(self._path, search_iter)
            if dropped:
                runner.logger.info(f'TST: {dropped} lines of {POLICY_HISTORY_FILE} past search '
                                   f'iteration {search_iter}, where the run resumes, dropped')

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
        losses = {key: _scalar(value) for key, value in outputs.items()}
        scalars = {f'search/{key}': value for key, value in losses.items()}
        for op, entry in policy.items():
            scalars[f'policy/{op}/probability'] = entry['probability']
            if entry['magnitude'] is not None:
                scalars[f'policy/{op}/magnitude'] = entry['magnitude']
        runner.visualizer.add_scalars(scalars, step=search_iter)
        if is_main_process():
            record = dict(search_iter=search_iter, epoch=runner.epoch, iter=runner.iter,
                          policy=policy, losses=losses)
            with open(self._path, 'a') as f:
                f.write(json.dumps(record) + '\n')
