"""Hooks the tests share: interrupting a run in-process, and (registered) hooks imported by
configs in the multi-process tests (``custom_imports``)."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from tst_mm.utils import unwrap_model


class Interrupted(Exception):
    """Stands for a job killed by the cluster."""


class InterruptAfterIter(Hook):
    """Kill the run after a student iteration, once the checkpoint hook has saved it."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) in after_train_iter

    def __init__(self, iters: int) -> None:
        self.iters = iters

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iters:  # the counter moves on after this hook point
            raise Interrupted


@HOOKS.register_module()
class SaveRankStateHook(Hook):
    """After training, every rank saves its (unwrapped) model state to ``rank_<r>.pth`` and
    the class of the runner's model (the wrapper) to ``rank_<r>_wrapper.txt``."""

    def after_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        torch.save(model.state_dict(), osp.join(runner.work_dir, f'rank_{get_rank()}.pth'))
        with open(osp.join(runner.work_dir, f'rank_{get_rank()}_wrapper.txt'), 'w') as f:
            f.write(type(runner.model).__name__)
