"""What the two scenes studies share: options, data, teacher, method variants, the run loop.

``benchmarks/seg_quality.py`` (PSPNet, mIoU) and ``benchmarks/det_quality.py`` (Faster R-CNN,
bbox mAP) compare the same methods on the same generated scenes: one teacher trained once, a
smaller student trained by each method on one shared schedule, every run cached by
:func:`study_runs.run_cached`. Each script keeps what is its own (the configs, how a config is
pointed at the scenes, the table's header).
"""
import argparse
import json
import os
import os.path as osp
import time
from datetime import datetime, timezone
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmengine.config import Config
from study_runs import ROOT, comparison_notes, run_tool, summarise, summary_table

from tst_mm.launch import student_config
from tst_mm.utils import last_logged_scalar

__all__ = [
    'METHODS', 'COMPARED', 'parse_scene_args', 'make_data_command', 'ensure_data',
    'set_schedule', 'search_iters', 'ensure_teacher', 'apply_method', 'run_dir_of',
    'write_tables', 'run_jobs'
]

METHODS = ('alone', 'kd', 'kd_random', 'tst', 'tst_online', 'tst_lookahead')
#: (method, baseline) pairs compared in words under the table
COMPARED = (('kd', 'alone'), ('tst', 'kd'), ('tst', 'kd_random'), ('kd_random', 'kd'),
            ('tst_online', 'kd'), ('tst_lookahead', 'kd'), ('tst_lookahead', 'kd_random'),
            ('tst_lookahead', 'tst'))
#: ``tst_lookahead``'s search: the student-lookahead objective by finite differences (mmcv's
#: ops have no double backward), its policy stepped by Adam, no plateau rule (see
#: ``cls_quality.LOOKAHEAD_OPTIONS``; detection and segmentation learn no weight of x').
LOOKAHEAD_OBJECTIVE = dict(type='tst_mm.StudentLookahead', estimator='finite_difference')
LOOKAHEAD_AUGMENTER_OPTIMIZER = dict(type='Adam', lr=0.05)

#: how a study points a config at its scenes and gives it the shared schedule, in place:
#: ``configure(cfg, args, iters, seed)``
Configure = Callable[[Config, argparse.Namespace, int, int], None]


def parse_scene_args(description: str, argv, work_dir: str, lr: float,
                     out_name: str) -> argparse.Namespace:
    """Parse a scenes study's command line.

    Args:
        description: The parser's description.
        argv: Arguments, or ``None`` for ``sys.argv``.
        work_dir: Default folder of the runs.
        lr: Default AdamW learning rate.
        out_name: Default file stem of the study's outputs (``--name``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    parser.add_argument('--iters', type=int, default=1500, help='student iterations')
    parser.add_argument('--teacher-iters', type=int, default=3000)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=lr, help='AdamW learning rate')
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--search-iters', type=int, default=None,
                        help='tst: search steps per phase (default iters / 16)')
    parser.add_argument('--online-interval', type=int, default=8,
                        help='tst_online: a search step every this many iterations')
    parser.add_argument('--num-train', type=int, default=3000, help='training scenes')
    parser.add_argument('--num-val', type=int, default=200, help='validation (test) scenes')
    parser.add_argument('--size', type=int, default=96, help='scene side (px)')
    parser.add_argument('--min-objects', type=int, default=3)
    parser.add_argument('--max-objects', type=int, default=6)
    parser.add_argument('--data-root', default='data/scenes_bench')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--work-dir', default=work_dir)
    parser.add_argument('--out', default='benchmarks/results',
                        help=f'folder of {out_name}.{{json,md}}')
    parser.add_argument('--name', default=out_name,
                        help='file name stem of the outputs (another name keeps the tables '
                        'of another set of methods)')
    parser.add_argument('--report-only', action='store_true',
                        help='rewrite the tables from the finished runs; train nothing')
    return parser.parse_args(argv)


def make_data_command(args) -> List[str]:
    """The ``tools/data/make_scenes.py`` command line of the study's scenes."""
    return ['tools/data/make_scenes.py', '--out', args.data_root, '--num-train',
            str(args.num_train), '--num-val', str(args.num_val), '--size', str(args.size),
            '--min-objects', str(args.min_objects), '--max-objects', str(args.max_objects)]


def ensure_data(args) -> None:
    """Make the scenes (``make_scenes.py`` skips a set that is already there)."""
    os.makedirs(args.work_dir, exist_ok=True)
    run_tool(make_data_command(args), osp.join(args.work_dir, 'make_scenes.log'), threads=1)


def set_schedule(cfg: Config, optim_wrapper: dict, schedule: List[dict], iters: int,
                 seed: int) -> None:
    """Give a plain or a TST config the study's optimizer, schedule and loop, in place.

    In a TST config only the student's part of the optimizer and schedule changes. The loop
    becomes the matching iteration-based one, testing once, at the end, where the only
    checkpoint is written.

    Args:
        cfg: The config.
        optim_wrapper: The (student's) optim wrapper fields, e.g. ``dict(optimizer=...)``.
        schedule: The (student's) param schedulers.
        iters: Training iterations.
        seed: The run's seed.
    """
    if 'student' in cfg.optim_wrapper:
        cfg.optim_wrapper.student = optim_wrapper
        cfg.param_scheduler.student = schedule
        loop = 'tst_mm.TSTIterBasedTrainLoop'
    else:
        cfg.optim_wrapper = dict(type='OptimWrapper', **optim_wrapper)
        cfg.param_scheduler = schedule
        loop = 'IterBasedTrainLoop'
    cfg.train_cfg = dict(type=loop, max_iters=iters, val_interval=iters)
    cfg.log_processor = dict(by_epoch=False)
    cfg.default_hooks.logger.interval = 50
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters,
                                        max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed)


def search_iters(args) -> int:
    """Search steps per TST search phase."""
    return args.search_iters or max(1, args.iters // 16)


def ensure_teacher(args, teacher_config: str, configure: Configure,
                   metric: str) -> Tuple[str, str, float]:
    """Train the teacher unless cached; return its config, checkpoint and logged ``metric``.

    Raises:
        RuntimeError: If the teacher's work dir has no ``metric`` logged.
    """
    teacher_dir = osp.abspath(osp.join(args.work_dir, 'teacher'))
    config_path = osp.join(teacher_dir, 'config.py')
    ckpt = osp.join(teacher_dir, f'iter_{args.teacher_iters}.pth')
    if not osp.isfile(ckpt):
        print(f'teacher: training {teacher_config}, {args.teacher_iters} iterations',
              flush=True)
        os.makedirs(teacher_dir, exist_ok=True)
        cfg = Config.fromfile(osp.join(ROOT, teacher_config))
        configure(cfg, args, args.teacher_iters, 0)
        cfg.dump(config_path)
        run_tool(['tools/train.py', config_path, '--work-dir', teacher_dir],
                 osp.join(teacher_dir, 'train.log'), threads=args.threads)
    value = last_logged_scalar(teacher_dir, metric)
    if value is None:
        raise RuntimeError(f'no {metric} logged in {teacher_dir}: test the teacher first')
    return config_path, ckpt, value


def apply_method(cfg: Config, method: str, args) -> Config:
    """Turn a study's TST run config (iteration-based loop) into ``method``'s.

    - ``alone``: the student's plain config (no teacher, stock loop);
    - ``kd``: no augmentation, no search;
    - ``kd_random``: ``[x'; x]`` with the augmenter's initial policy, never searched;
    - ``tst``: search phases before a quarter and three quarters of training;
    - ``tst_online``: one search step every ``--online-interval`` iterations;
    - ``tst_lookahead``: as ``tst``, searching with :data:`LOOKAHEAD_OBJECTIVE`.
    """
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    cfg.train_cfg.search_iters = search_iters(args)
    cfg.train_cfg.search_passes = 1
    cfg.train_cfg.search_at = []
    if method == 'alone':
        return student_config(cfg)
    if method == 'kd':
        cfg.model.augment_ratio = 0.0
        cfg.custom_hooks = []
    elif method == 'kd_random':
        cfg.custom_hooks = []
    elif method in ('tst', 'tst_lookahead'):
        cfg.train_cfg.search_at = [args.iters // 4, 3 * args.iters // 4]
    if method == 'tst_lookahead':
        cfg.model.search_objective = LOOKAHEAD_OBJECTIVE
        for key in ('weakness_loss', 'search_loss_weights'):
            cfg.model.pop(key, None)
        cfg.optim_wrapper.augmenter.optimizer = LOOKAHEAD_AUGMENTER_OPTIMIZER
        cfg.train_cfg.search_optim = dict(factor=None)
    elif method == 'tst_online':
        cfg.train_cfg.online = dict(interval=args.online_interval, steps=1)
    return cfg


def run_dir_of(method: str, seed: int, args) -> str:
    """The work dir of one (method, seed)."""
    return osp.abspath(osp.join(args.work_dir, f'{method}_seed{seed}'))


def write_tables(args, name: str, header: str, results: List[Dict], teacher_value: float,
                 command: str, descriptions: Dict[str, str], result_key: str, metric: str,
                 caveats: Sequence[str]) -> None:
    """Write ``<out>/<name>.json`` (raw results) and ``<name>.md`` (header, table, notes).

    Args:
        args: The study's options (recorded in the JSON).
        name: File stem.
        header: The table's header (machine, command, data, settings).
        results: One result per finished run.
        teacher_value: The teacher's metric.
        command: The study's command line.
        descriptions: Row label of each method.
        result_key: Key of the metric in the results.
        metric: The metric's name in the table and notes.
        caveats: Markdown bullets printed after the notes.
    """
    summary = summarise(results, teacher_value, METHODS, result_key)
    os.makedirs(args.out, exist_ok=True)
    lines = [header, '', *summary_table(summary, descriptions, result_key, metric)]
    lines += ['', *comparison_notes(summary, descriptions, COMPARED, result_key,
                                    metric.split()[-1]), *caveats]
    with open(osp.join(args.out, f'{name}.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    settings = {key: value for key, value in vars(args).items()
                if key not in ('seeds', 'methods', 'out')}
    with open(osp.join(args.out, f'{name}.json'), 'w') as f:
        json.dump({'command': command, 'date': utc_now(), 'cores': os.cpu_count(),
                   'torch': torch.__version__, f'teacher_{result_key}': teacher_value,
                   'settings': settings, 'summary': summary, 'runs': results}, f, indent=1)


def utc_now() -> str:
    """The time, for table headers."""
    return datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')


def run_jobs(args, name: str, run_one: Callable[[str, int], Dict],
             write: Callable[[List[Dict]], None], result_key: str, metric: str) -> None:
    """Run (or read from cache) every (method, seed), rewriting the tables after each.

    Cached runs come first (so the table has them all at once), then the rest seed by seed, so
    a study stopped early still has every method on the same seeds. With ``--report-only``
    only the cached runs are tabulated.

    Args:
        args: The study's options.
        name: File stem of the outputs (printed at the end).
        run_one: ``run_one(method, seed)`` trains and tests one run or returns its cache.
        write: Rewrites the tables from the results so far.
        result_key: Key of the metric in the results.
        metric: The metric's name in the progress lines.
    """
    started = time.time()
    jobs = [(method, seed) for seed in args.seeds for method in args.methods]
    jobs.sort(key=lambda job: not osp.isfile(osp.join(run_dir_of(*job, args), 'result.json')))
    if args.report_only:
        jobs = [job for job in jobs
                if osp.isfile(osp.join(run_dir_of(*job, args), 'result.json'))]
    results: List[Dict] = []
    for method, seed in jobs:
        result = run_one(method, seed)
        results.append(result)
        write(results)
        print(f'[{len(results)}/{len(jobs)}] {method} seed {seed}: {metric} '
              f'{result[result_key]:.2f} ({result["wall_s"]:.0f} s; '
              f'{(time.time() - started) / 60:.1f} min so far)', flush=True)
    with open(osp.join(args.out, f'{name}.md')) as f:
        print('\n' + f.read())
    print(f'total {(time.time() - started) / 60:.1f} min')
