"""Evaluate a checkpoint with the config's test dataloader and evaluator.

Examples::

    python tools/test.py CONFIG work_dirs/x/epoch_2.pth
    python tools/test.py CONFIG CKPT --cfg-options test_evaluator.classwise=True
    bash tools/dist_test.sh CONFIG CKPT 2
"""
import argparse
import os
import os.path as osp
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
from tst_mm.launch import load_tool_config, prepare_launch  # noqa: E402
from tst_mm.utils import refusal_line  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line in the style of the OpenMMLab tools."""
    parser = argparse.ArgumentParser(description='Test (evaluate) a model with tst-mm')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation logs')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options to it."""
    if not osp.isfile(args.checkpoint):
        raise ConfigError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ConfigError(f'--out must name a .pkl or .pickle file, got {args.out}')
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, list):
            evaluators = [evaluators]
        cfg.test_evaluator = [*evaluators, dict(type='DumpResults', out_file_path=args.out)]
    prepare_launch(cfg, args.launcher)
    return cfg


def main(argv=None) -> None:
    """Build the runner from the config and run the test loop."""
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        Runner.from_cfg(cfg).test()
    except ConfigError as err:
        sys.exit(refusal_line(err))


if __name__ == '__main__':
    main()
