"""No checkpoint replaces the last good one while a TST part's steps are being skipped.

A run whose student an exploding update made huge but finite skips every later step (each
loss is non-finite) until :class:`~tst_mm.distill.update.TrainingDiverged` stops it, naming
the last checkpoint saved before that update. Checkpoints saved during those skips hold the
exploded student: they would rotate the good one away (``max_keep_ckpts``) and
``last_checkpoint`` would name them, so a plain ``--resume`` would restart from the exploded
student. So while any part of the distiller has skipped its last step (its skips in a row
are above zero), no checkpoint is saved, rotated or named; the first applied update of
every part ends that.

Two places save checkpoints in a TST run, and both ask :func:`checkpoint_withheld` first:
the TST loops' search-pass checkpoints, and ``CheckpointHook``, which the TST loops turn
into :class:`TSTCheckpointHook` before training (:func:`guard_checkpoint_hooks`).

One checkpoint of a diverged model can still be saved: one due right after the exploding
update, before any step was skipped. So when the run stops, ``last_checkpoint`` is pointed
at the checkpoint the error names (:func:`resume_from_last_good_checkpoint`).
"""
import os.path as osp
from contextlib import contextmanager
from typing import Dict, Iterator

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from ..distill.update import TrainingDiverged
from ..registry import HOOKS
from ..utils.unwrap import unwrap_model

__all__ = ['skipping_parts', 'checkpoint_withheld', 'TSTCheckpointHook',
           'guard_checkpoint_hooks', 'resume_from_last_good_checkpoint']


def skipping_parts(runner) -> Dict[str, int]:
    """The distiller's optimized parts whose last step was skipped, with their skips in a
    row (the same on every rank: skips are decided on all ranks together)."""
    parts = getattr(unwrap_model(runner.model), 'parts', None) or {}
    return {name: part.skips.in_a_row for name, part in parts.items()
            if part.skips.in_a_row > 0}


def checkpoint_withheld(runner, what: str) -> bool:
    """Whether the checkpoint about to be saved must not be, because a part is skipping its
    steps; if so, a warning says which checkpoint stays the one to resume from.

    Args:
        runner: The runner (its model is the TST distiller, wrapped or not).
        what: The checkpoint in words, for the warning, e.g. ``'the checkpoint of epoch 3'``.
    """
    skipping = skipping_parts(runner)
    if not skipping:
        return False
    parts = ' and '.join(f'the {name} ({count} in a row)' for name, count in skipping.items())
    last = runner.message_hub.get_info('last_ckpt')
    kept = (f'{last} stays the last checkpoint' if last else
            'no checkpoint was saved before')
    # the position makes every message new: mmengine's logger drops repeated warnings
    runner.logger.warning(
        f'TST: {what} is not saved: the last steps of {parts} were skipped, so it may hold '
        f'a diverged model; {kept} (saving starts again once every part\'s steps apply)')
    return True


@HOOKS.register_module()
class TSTCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that saves nothing while a TST part skips its steps.

    While any optimized part of the distiller has skipped its last step, a checkpoint that is
    due (by interval, the last one, or a new best) is not saved, so nothing is rotated away
    (``max_keep_ckpts``) and ``last_checkpoint`` keeps naming the last one saved before. The
    TST loops turn a config's plain ``CheckpointHook`` into this one before training, keeping
    its settings; a config may also name it, with ``CheckpointHook``'s arguments.
    """

    def _save_checkpoint(self, runner) -> None:
        if self.by_epoch:
            what = f'the checkpoint of epoch {runner.epoch + 1}'
        else:
            what = f'the checkpoint of iteration {runner.iter + 1}'
        if not checkpoint_withheld(runner, what):
            super()._save_checkpoint(runner)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        where = f'epoch {runner.epoch}' if self.by_epoch else f'iteration {runner.iter}'
        if not checkpoint_withheld(runner, f'the best checkpoint after {where}'):
            super()._save_best_checkpoint(runner, metrics)

    @classmethod
    def guarding(cls, hook: CheckpointHook) -> 'TSTCheckpointHook':
        """A ``TSTCheckpointHook`` with the settings and state of ``hook``."""
        guarded = cls.__new__(cls)
        guarded.__dict__.update(vars(hook))
        return guarded


def guard_checkpoint_hooks(runner) -> int:
    """Turn each plain ``CheckpointHook`` of the runner into a :class:`TSTCheckpointHook`,
    keeping its settings, state and place among the hooks.

    A subclass of ``CheckpointHook`` other than :class:`TSTCheckpointHook` is left as it is,
    with a warning: it would save during skipped steps.

    Args:
        runner: The runner, before its ``before_train`` hooks.

    Returns:
        How many hooks were turned.
    """
    turned = 0
    hooks = runner.hooks  # the runner's own list: replacing an item replaces the hook
    for index, hook in enumerate(hooks):
        if type(hook) is CheckpointHook:
            hooks[index] = TSTCheckpointHook.guarding(hook)
            turned += 1
        elif isinstance(hook, CheckpointHook) and not isinstance(hook, TSTCheckpointHook):
            runner.logger.warning(
                f'TST: {type(hook).__name__} is not mmengine\'s CheckpointHook, so it is kept '
                'as it is and saves checkpoints also while a part skips its steps (a diverged '
                'run); tst_mm.TSTCheckpointHook does not')
    return turned


@contextmanager
def resume_from_last_good_checkpoint(runner) -> Iterator[None]:
    """Around training: if it stops with :class:`TrainingDiverged`, point the work dir's
    ``last_checkpoint`` (what a plain ``--resume`` reads) at the checkpoint the error names,
    when that file exists, then let the error go on."""
    try:
        yield
    except TrainingDiverged as err:
        if err.checkpoint and osp.isfile(err.checkpoint) and is_main_process():
            with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(err.checkpoint)
        raise
