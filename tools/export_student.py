"""Export the student of a TST checkpoint as a plain mmpretrain / mmdet / mmseg checkpoint.

The result holds only the student's weights (no teacher, no augmenter, no optimizer) under
``state_dict`` and plain-typed ``meta``, so stock tools load it without tst_mm installed::

    python tools/export_student.py work_dirs/tst/epoch_4.pth student.pth \
        --config configs/demo/tst_fashion-mnist.py    # also writes student.py, a plain config
    python -m mmpretrain.tools.test student.py student.pth   # or the toolbox's tools/test.py
"""
import argparse
import os.path as osp
import sys
from typing import Any, Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction

from tst_mm.launch import student_config
from tst_mm.utils import register_checkpoint_safe_globals

PREFIX = 'student.'
#: meta entries worth keeping (all plain data); run state such as the message hub is dropped
KEPT_META = ('dataset_meta', 'epoch', 'iter', 'seed', 'time', 'mmengine_version')


def plain(value: Any) -> Any:
    """Numpy scalars and arrays (which need allow-listing under weights_only) to python."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def export_checkpoint(src: str, dst: str) -> dict:
    """Write the student of TST checkpoint ``src`` to ``dst``; return the new checkpoint."""
    register_checkpoint_safe_globals()
    checkpoint = torch.load(src, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    student = {key[len(PREFIX):]: value for key, value in state_dict.items()
               if key.startswith(PREFIX)}
    if not student:
        raise ValueError(f'{src} has no "{PREFIX}*" weights: is it a TSTDistiller checkpoint?')
    meta = {key: plain(value) for key, value in checkpoint.get('meta', {}).items()
            if key in KEPT_META}
    meta['exported_from'] = osp.abspath(src)
    exported = dict(meta=meta, state_dict=student)
    torch.save(exported, dst)
    return exported


def export_config(tst_config: str, dst: str, cfg_options: Optional[dict] = None) -> Config:
    """Turn a TST config into a plain config of its student (same data, evaluator, runtime).

    Args:
        tst_config: Path of the TST config.
        dst: Where to write the student's config.
        cfg_options: Overrides applied to the TST config first (as ``--cfg-options``).
    """
    cfg = Config.fromfile(tst_config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg = student_config(cfg)
    cfg.dump(dst)
    return cfg


def main(argv=None) -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description='Export the student of a TST checkpoint')
    parser.add_argument('checkpoint', help='TST checkpoint (from tools/train.py)')
    parser.add_argument('out', help='output .pth path')
    parser.add_argument('--config', help='the TST config: also write <out>.py, a plain config '
                        'of the student for the toolbox\'s own tools')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to --config before it is converted')
    args = parser.parse_args(argv)
    try:
        exported = export_checkpoint(args.checkpoint, args.out)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(f'wrote {args.out}: {len(exported["state_dict"])} student tensors')
    if args.config:
        config_path = osp.splitext(args.out)[0] + '.py'
        export_config(args.config, config_path, args.cfg_options)
        print(f'wrote {config_path}')


if __name__ == '__main__':
    main()
