"""Train a model (a stock mm model or a TST distiller) from a config.

Works for mmpretrain, mmdet and mmsegmentation configs alike: the task comes from the config's
``default_scope``. Examples::

    python tools/train.py configs/demo/resnet18-tiny_fashion-mnist.py
    python tools/train.py CONFIG --work-dir work_dirs/x --cfg-options train_cfg.max_epochs=2
    python tools/train.py CONFIG --resume            # continue from the work dir's last checkpoint
    bash tools/dist_train.sh CONFIG 2                 # torch.distributed (gloo on CPU, nccl on GPU)
"""
import argparse
import os
import sys
import warnings


def _warning_to_stdout(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings go to stdout, with the Runner's log (its own warnings are there)."""
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))


# stderr carries only what ends the run: a refusal is one line there, as it is meant to be.
# mmengine 0.10.7 imports pkg_resources, which setuptools 81 deprecates at every start.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)
warnings.showwarning = _warning_to_stdout

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import tst_mm  # noqa: E402,F401  (registers tst_mm modules and safe checkpoint globals)
from tst_mm.errors import ConfigError  # noqa: E402
from tst_mm.launch import enable_amp, load_tool_config, prepare_launch  # noqa: E402
from tst_mm.utils import (  # noqa: E402
    check_load_from_checkpoint,
    check_resume_checkpoint,
    refusal_line,
)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line in the style of the OpenMMLab tools."""
    parser = argparse.ArgumentParser(description='Train a model with tst-mm')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=2 (key=value pairs; lists '
        'as key="[a,b]" and tuples as key="(a,b)", without spaces)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (>= 2.0) or --local_rank (older)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options to it."""
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    prepare_launch(cfg, args.launcher)
    return cfg


def main(argv=None) -> None:
    """Build the runner from the config and train."""
    args = parse_args(argv)
    # Every refusal (config, teacher checkpoint, resume checkpoint, the TST preflight, a
    # diverged run) is a ConfigError: one line on stderr, no traceback; docs/user_guide.md
    # lists them ("What is refused"), tests/tools/test_refusals.py drives each one.
    try:
        cfg = build_config(args)
        runner = Runner.from_cfg(cfg)
        # before any training: a checkpoint of another config is named, not half-loaded, and
        # a load_from that fits (almost) nothing is refused rather than trained from scratch
        check_resume_checkpoint(cfg, runner.model)
        check_load_from_checkpoint(cfg, runner.model)
        runner.train()
    except ConfigError as err:
        sys.exit(refusal_line(err))


if __name__ == '__main__':
    main()
