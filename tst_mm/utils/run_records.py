"""Reading what a finished mmengine run recorded in its work dir."""
import glob
import json
import os.path as osp
from typing import Optional

__all__ = ['last_logged_scalar']


def last_logged_scalar(work_dir: str, key: str) -> Optional[float]:
    """The last value of ``key`` a run logged in ``<work_dir>/<timestamp>/vis_data/scalars.json``.

    A resumed run has one timestamped folder per launch; they are read oldest first, so the
    value comes from the latest launch that logged ``key``.

    Args:
        work_dir: The run's work dir.
        key: A logged scalar, e.g. ``'accuracy/top1'``, ``'coco/bbox_mAP'`` or ``'mIoU'``.

    Returns:
        The value, or ``None`` if no launch logged it.
    """
    value = None
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if key in record:
                    value = float(record[key])
    return value
