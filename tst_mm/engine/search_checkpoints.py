"""Search-pass checkpoints: named, saved, and rotated as ``CheckpointHook`` rotates epoch ones."""
import glob
import os
import os.path as osp
import re
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from .checkpoint_guard import checkpoint_withheld

__all__ = ['search_checkpoint_name', 'save_search_checkpoint', 'rotate_search_checkpoints']


def search_checkpoint_name(unit: str, position: int, pass_idx: int) -> str:
    """File name of the checkpoint after pass ``pass_idx`` (0-based) of a search phase."""
    return f'search_{unit}_{position}_pass_{pass_idx + 1}.pth'


def save_search_checkpoint(runner, unit: str, position: int, pass_idx: int, what: str,
                           meta: dict) -> None:
    """Save a resumable checkpoint at a pass boundary and point ``last_checkpoint`` at it;
    nothing while a part skips its steps (:func:`.checkpoint_guard.checkpoint_withheld`).

    Args:
        runner: The runner.
        unit: ``'epoch'`` or ``'iter'``, as in the file names.
        position: Where the phase runs, in ``unit``.
        pass_idx: The pass just run (0-based).
        what: The checkpoint in words, for the warning when it is withheld.
        meta: The checkpoint's ``meta`` (the loop's ``epoch`` and ``iter``).
    """
    if checkpoint_withheld(runner, what):
        return
    path = osp.join(runner.work_dir, search_checkpoint_name(unit, position, pass_idx))
    runner.save_checkpoint(runner.work_dir, osp.basename(path), meta=meta)
    # where CheckpointHook records its own: a diverging run names the last one saved
    runner.message_hub.update_info('last_ckpt', path)
    if is_main_process():
        with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
            f.write(path)
    rotate_search_checkpoints(runner, unit)  # max_keep_ckpts, as epoch ones


def _saved(work_dir: str, unit: str) -> List[str]:
    """The search checkpoints of ``work_dir``, oldest first."""
    pattern = re.compile(rf'search_{unit}_(\d+)_pass_(\d+)\.pth$')
    found = []
    for path in glob.glob(osp.join(work_dir, f'search_{unit}_*_pass_*.pth')):
        match = pattern.search(osp.basename(path))
        if match:
            found.append((int(match.group(1)), int(match.group(2)), path))
    return [path for _, _, path in sorted(found)]


def rotate_search_checkpoints(runner, unit: str) -> List[str]:
    """Delete all but the newest ``max_keep_ckpts`` search checkpoints (main process only).

    ``max_keep_ckpts`` is the run's ``CheckpointHook`` setting; without one, or with a value
    below 1, every checkpoint is kept. Older ones are found on disk, so checkpoints of the
    run before a resume count too.

    Args:
        runner: The runner (its ``work_dir`` and hooks).
        unit: ``'epoch'`` or ``'iter'``, as in the file names.

    Returns:
        The paths deleted.
    """
    hooks = [hook for hook in runner.hooks if isinstance(hook, CheckpointHook)]
    keep = getattr(hooks[0], 'max_keep_ckpts', -1) if hooks else -1
    if keep < 1 or not is_main_process():
        return []
    old = _saved(runner.work_dir, unit)[:-keep]
    for path in old:
        os.remove(path)
    return old
