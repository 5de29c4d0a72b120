"""Reading what a finished mmengine run recorded in its work dir."""
import glob
import json
import os.path as osp
from typing import List, Optional

__all__ = ['last_logged_scalar', 'logged_records']


def logged_records(work_dir: str, key: str) -> List[dict]:
    """Every record of ``<work_dir>/<timestamp>/vis_data/scalars.json`` that holds ``key``.

    A resumed run has one timestamped folder per launch; they are read oldest first. Each
    record is the whole logged line (so it carries the ``step`` and what was logged with
    ``key``).

    Args:
        work_dir: The run's work dir.
        key: A logged scalar, e.g. ``'accuracy/top1'``, ``'coco/bbox_mAP'`` or ``'mIoU'``.
    """
    records = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records.extend(record for record in map(json.loads, f) if key in record)
    return records


def last_logged_scalar(work_dir: str, key: str) -> Optional[float]:
    """The last value of ``key`` a run logged (see :func:`logged_records`), or ``None``."""
    records = logged_records(work_dir, key)
    return float(records[-1][key]) if records else None
