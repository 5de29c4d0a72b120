"""Reading what a finished mmengine run recorded in its work dir."""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional

__all__ = ['last_logged_scalar', 'logged_records']


def logged_records(work_dir: str, key: str) -> List[dict]:
    """Every record of ``<work_dir>/<timestamp>/vis_data/scalars.json`` that holds ``key``,
    once per step, in step order.

    A resumed run has one timestamped folder per launch, and a launch logs again the steps
    between its checkpoint and where the launch before it stopped. The launches are read
    oldest first and a launch's records for a step replace those an earlier launch logged for
    it, so the records are those of one uninterrupted run. Each record is the whole logged
    line (so it carries the ``step`` and what was logged with ``key``).

    Args:
        work_dir: The run's work dir.
        key: A logged scalar, e.g. ``'accuracy/top1'``, ``'coco/bbox_mAP'`` or ``'mIoU'``.
    """
    by_step: Dict[int, List[dict]] = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        launch: Dict[int, List[dict]] = {}
        with open(path) as f:
            for record in map(json.loads, f):
                if key in record:
                    launch.setdefault(record['step'], []).append(record)
        by_step.update(launch)
    return [record for step in sorted(by_step) for record in by_step[step]]


def last_logged_scalar(work_dir: str, key: str) -> Optional[float]:
    """The value of ``key`` at the last step a run logged it (see :func:`logged_records`), or
    ``None``."""
    records = logged_records(work_dir, key)
    return float(records[-1][key]) if records else None
