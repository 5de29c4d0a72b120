"""Keep only the newest search-pass checkpoints, as ``CheckpointHook`` does with epoch ones."""
import glob
import os
import os.path as osp
import re
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

__all__ = ['search_checkpoint_name', 'rotate_search_checkpoints']


def search_checkpoint_name(unit: str, position: int, pass_idx: int) -> str:
    """File name of the checkpoint after pass ``pass_idx`` (0-based) of a search phase."""
    return f'search_{unit}_{position}_pass_{pass_idx + 1}.pth'


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
