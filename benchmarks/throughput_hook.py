"""Timing hook for ``benchmarks/dist_throughput.py`` (imported by its configs).

Times the interval between consecutive training steps of one epoch (distillation) or of one
search pass (search), so data loading is included and epoch / phase boundaries (validation,
checkpoints, the search phases themselves) are not. The first ``warmup`` intervals of each
kind are dropped. Rank 0 writes the sums to ``out`` as JSON after training; every step is
an all-reduce across ranks, so rank 0's clock stands for the job's.
"""
import json
import time
from typing import Optional

from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['DistThroughputHook']


def _batch_images(data_batch) -> int:
    inputs = data_batch['inputs'] if isinstance(data_batch, dict) else data_batch[0]
    return len(inputs)


@HOOKS.register_module()
class DistThroughputHook(Hook):
    """Sum step intervals and images per rank for distillation and search steps.

    Args:
        out: JSON file written by rank 0 after training.
        warmup: Intervals of each kind dropped at the start.
    """

    priority = 'HIGHEST'

    def __init__(self, out: str, warmup: int = 3) -> None:
        self.out = out
        self.warmup = warmup
        self.stats = {kind: dict(steps=0, seconds=0.0, images=0, dropped=0)
                      for kind in ('distill', 'search')}
        self._last: dict = dict(distill=None, search=None)

    def _tick(self, kind: str, data_batch) -> None:
        now = time.perf_counter()
        last, self._last[kind] = self._last[kind], now
        if last is None:
            return
        stats = self.stats[kind]
        if stats['dropped'] < self.warmup:
            stats['dropped'] += 1
            return
        stats['steps'] += 1
        stats['seconds'] += now - last
        stats['images'] += _batch_images(data_batch)

    def before_train_epoch(self, runner) -> None:
        self._last['distill'] = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        self._tick('distill', data_batch)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._last['distill'] = None  # an iteration-based loop may validate mid-stream

    def before_search_phase(self, runner, **position) -> None:
        self._last['search'] = None

    def after_search_pass(self, runner, pass_idx: int, **position) -> None:
        self._last['search'] = None  # a checkpoint may be written between passes

    def after_search_phase(self, runner, **position) -> None:
        self._last['distill'] = None

    def after_search_iter(self, runner, batch_idx: int, data_batch=None,
                          outputs: Optional[dict] = None) -> None:
        self._tick('search', data_batch)

    def after_train(self, runner) -> None:
        if get_rank() != 0:
            return
        with open(self.out, 'w') as f:
            json.dump(dict(world_size=get_world_size(), **self.stats), f)
