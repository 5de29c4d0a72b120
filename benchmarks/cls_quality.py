"""Does TST beat KD? Classification quality on Fashion-MNIST, several seeds per method.

    python benchmarks/cls_quality.py [--seeds 0 1 2 3 4] [--jobs 2] [--epochs 4]

One teacher (the demo teacher: ``configs/demo/resnet18-tiny_fashion-mnist.py``, 2 epochs on the
60k training images; trained here unless ``--teacher-ckpt`` exists) and the demo's 1/16-width
student, trained on a fixed 10k-image subset and tested on the full 10k test set, on the same
schedule and seeds by each method:

- ``alone``: the student's plain mmpretrain config (cross-entropy only, no teacher);
- ``kd``, ``dkd``, ``dist``: distillation losses, no augmentation;
- ``kd_random``: KD on ``[x'; x]`` with the augmenter's *initial* policy over the same op pool,
  never searched (every probability and magnitude 0.5): the control that separates a learned
  policy from "more augmentation";
- ``tst``: TST with the exact ops, search passes before a quarter and three quarters of training;
- ``tst_learned``: the same with the colour ops as pretrained op-imitation networks
  (``tools/pretrain_ops.py``, grey, trained here once and cached);
- ``tst_online``: no search phases; one search step after every ``--online-interval``
  distillation iterations (with the default 2, as many search steps as ``tst``).

Every run goes through ``tools/train.py`` with a config written to its work dir, one process per
run (``--jobs`` at a time, ``--threads`` each). Finished runs are cached (``result.json`` in the
run dir), so an interrupted study continues where it stopped. Writes
``benchmarks/results/<name>.{json,md}`` (``--name``, default ``cls_quality``) after every run, and
at the end the policy study figures ``<name>_policy.png`` (one TST run over training) and
``<name>_final_policy.png`` (the final policy over seeds). ``--augment-ratio`` changes the share
of each batch that ``kd_random`` and the TST methods augment (use its own ``--work-dir`` and
``--name``).
"""
import argparse
import json
import os
import os.path as osp
import platform
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from study_runs import ROOT, run_cached, run_tool, summarise, summary_table

from tst_mm.engine import POLICY_HISTORY_FILE
from tst_mm.utils import last_logged_scalar, student_config

TEACHER_CONFIG = 'configs/demo/resnet18-tiny_fashion-mnist.py'
TST_CONFIG = 'configs/demo/tst_fashion-mnist.py'
METHODS = ('alone', 'kd', 'dkd', 'dist', 'kd_random', 'tst', 'tst_learned', 'tst_online')
DESCRIPTIONS = {
    'alone': 'student alone (plain mmpretrain config)',
    'kd': 'KD (T=4)',
    'dkd': 'DKD (alpha 1, beta 8, T=4)',
    'dist': 'DIST (beta 1, gamma 1, T=1)',
    'kd_random': 'KD + untrained policy (same op pool, p = m = 0.5)',
    'tst': 'TST, exact ops',
    'tst_learned': 'TST, learned colour ops',
    'tst_online': 'TST, online search',
}
TOP1 = 'accuracy/top1'


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    parser.add_argument('--epochs', type=int, default=4, help='student epochs')
    parser.add_argument('--subset', type=int, default=10000, help='student training images')
    parser.add_argument('--val-subset', type=int, default=None,
                        help='test on this many test images (default: all 10k)')
    parser.add_argument('--online-interval', type=int, default=2,
                        help='tst_online: a search step every this many iterations')
    parser.add_argument('--jobs', type=int, default=2, help='runs at a time')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--data-root', default='data/fashion-mnist')
    parser.add_argument('--teacher-ckpt', default='work_dirs/demo/teacher/epoch_2.pth',
                        help='the teacher; trained (2 epochs on 60k) if the file is missing')
    parser.add_argument('--learned-ops-ckpt', default='work_dirs/bench/learned_ops_gray.pth',
                        help='grey op-imitation networks; trained if the file is missing')
    parser.add_argument('--learned-ops-iters', type=int, default=400)
    parser.add_argument('--work-dir', default='work_dirs/bench/cls_quality')
    parser.add_argument('--cached-only', action='store_true',
                        help='train nothing: tabulate the finished runs, list the missing ones')
    parser.add_argument('--out', default='benchmarks/results',
                        help='folder of <name>.{json,md} and the policy figures')
    parser.add_argument('--name', default='cls_quality', help='file name stem of the outputs')
    parser.add_argument('--augment-ratio', type=float, default=None,
                        help="kd_random and TST: share of the batch augmented (config's 1.0)")
    return parser.parse_args(argv)


def ensure_teacher(args) -> Tuple[str, float]:
    """Train the teacher unless cached; return its checkpoint and test top-1."""
    ckpt = osp.abspath(args.teacher_ckpt)
    teacher_dir = osp.dirname(ckpt)
    if not osp.isfile(ckpt):
        epochs = int(re.search(r'epoch_(\d+)\.pth$', ckpt).group(1))
        print(f'teacher: training {TEACHER_CONFIG}, {epochs} epochs on 60k images', flush=True)
        os.makedirs(teacher_dir, exist_ok=True)
        run_tool(['tools/train.py', TEACHER_CONFIG, '--work-dir', teacher_dir, '--cfg-options',
                  *data_options(args), f'train_cfg.max_epochs={epochs}',
                  f'param_scheduler.end={epochs}'],
                 osp.join(teacher_dir, 'train.log'), threads=os.cpu_count() or 1)
    top1 = last_logged_scalar(teacher_dir, TOP1)
    if top1 is None:
        raise RuntimeError(f'no {TOP1} logged in {teacher_dir}: test the teacher first')
    return ckpt, top1


def ensure_learned_ops(args) -> str:
    """Train the grey op-imitation networks unless cached; return the checkpoint."""
    ckpt = osp.abspath(args.learned_ops_ckpt)
    if not osp.isfile(ckpt):
        print(f'learned ops: tools/pretrain_ops.py --channels 1 --iters '
              f'{args.learned_ops_iters}', flush=True)
        os.makedirs(osp.dirname(ckpt), exist_ok=True)
        run_tool(['tools/pretrain_ops.py', '--out', ckpt, '--channels', '1', '--iters',
                  str(args.learned_ops_iters)], ckpt + '.log', threads=os.cpu_count() or 1)
    return ckpt


def data_options(args) -> List[str]:
    """``--cfg-options`` pointing every split at the data root."""
    data_root = osp.abspath(args.data_root)
    return [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')]


def method_config(method: str, seed: int, args, teacher_ckpt: str,
                  learned_ops_ckpt: Optional[str]) -> Config:
    """The full config of one run."""
    cfg = Config.fromfile(osp.join(ROOT, TST_CONFIG))
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = teacher_ckpt
    data_root = osp.abspath(args.data_root)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
        if split != 'train' and args.val_subset:
            cfg[f'{split}_dataloader'].dataset.indices = args.val_subset
    cfg.train_dataloader.dataset.indices = args.subset
    cfg.train_cfg.max_epochs = args.epochs
    cfg.train_cfg.val_interval = args.epochs  # test once, at the end
    cfg.param_scheduler.student[0].end = args.epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=args.epochs,
                                        max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed)
    # search a quarter and three quarters into training, as the demo
    search_epochs = sorted({args.epochs // 4, min(args.epochs - 1, 3 * args.epochs // 4)})
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    if method == 'alone':
        return student_config(cfg)
    if method in ('kd', 'dkd', 'dist'):
        cfg.model.augment_ratio = 0.0
        cfg.train_cfg.search_epochs = []
        cfg.custom_hooks = []
        if method == 'dkd':
            cfg.model.distill_losses = dict(
                dkd=dict(type='tst_mm.DKDLoss', alpha=1.0, beta=8.0, tau=4.0))
        elif method == 'dist':
            cfg.model.distill_losses = dict(
                dist=dict(type='tst_mm.DISTLoss', beta=1.0, gamma=1.0, tau=1.0))
    elif args.augment_ratio is not None:
        cfg.model.augment_ratio = args.augment_ratio
    if method == 'kd_random':
        cfg.train_cfg.search_epochs = []
        cfg.custom_hooks = []
    elif method == 'tst':
        cfg.train_cfg.search_epochs = search_epochs
    elif method == 'tst_learned':
        cfg.train_cfg.search_epochs = search_epochs
        cfg.model.augmenter.op_impl = 'learned'
        cfg.model.augmenter.learned_ops_ckpt = learned_ops_ckpt
    elif method == 'tst_online':
        cfg.train_cfg.search_epochs = []
        cfg.train_cfg.online = dict(interval=args.online_interval, steps=1)
    return cfg


def run_one(method: str, seed: int, args, teacher_ckpt: str,
            learned_ops_ckpt: Optional[str]) -> Dict:
    """Train and test one (method, seed), or return its cached result."""
    run_dir = osp.abspath(osp.join(args.work_dir, f'{method}_seed{seed}'))
    return run_cached(
        run_dir, lambda: method_config(method, seed, args, teacher_ckpt, learned_ops_ckpt),
        method, seed, TOP1, 'top1', args.threads)


def write_tables(args, results: List[Dict], teacher_top1: float, command: str,
                 missing: List[str] = ()) -> None:
    """Write the raw results and the Markdown table (``missing``: runs not done, named)."""
    summary = summarise(results, teacher_top1, METHODS, 'top1')
    os.makedirs(args.out, exist_ok=True)
    header = (f'Fashion-MNIST classification quality, {os.cpu_count()} CPU cores, torch '
              f'{torch.__version__}, {platform.machine()}, {date.today()}.\n'
              f'Command: `{command}`.\n'
              f'Teacher: `{TEACHER_CONFIG}` (2 epochs on 60k), top-1 {teacher_top1:.2f}. '
              f'Student: `{TST_CONFIG}`\'s 1/16-width ResNet-18, {args.epochs} epochs on a fixed '
              f'{args.subset}-image subset, tested on '
              f'{args.val_subset or 10000} test images. Mean and sample standard deviation over '
              f'seeds; gap closed = (method - alone) / (teacher - alone); wall = mean time of one '
              f'run ({args.jobs} runs at a time, {args.threads} thread each).')
    lines = [header, '', *summary_table(summary, DESCRIPTIONS, 'top1', 'top-1')]
    if missing:
        lines += ['', f'Not run (yet): {", ".join(missing)}.']
    with open(osp.join(args.out, f'{args.name}.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(osp.join(args.out, f'{args.name}.json'), 'w') as f:
        json.dump(dict(command=command, date=str(date.today()), cores=os.cpu_count(),
                       torch=torch.__version__, teacher_top1=teacher_top1,
                       settings=dict(epochs=args.epochs, subset=args.subset,
                                     val_subset=args.val_subset, jobs=args.jobs,
                                     threads=args.threads,
                                     online_interval=args.online_interval,
                                     augment_ratio=args.augment_ratio),
                       summary=summary, runs=results, missing=list(missing)), f, indent=1)


def plot_final_policies(run_dirs: List[str], out: str) -> None:
    """Bar chart of the final TST policy (mean and std over seeds) per op."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    finals = []
    for run_dir in run_dirs:
        with open(osp.join(run_dir, POLICY_HISTORY_FILE)) as f:
            lines = [line for line in f if line.strip()]
        finals.append(json.loads(lines[-1])['policy'])
    ops = list(finals[0])
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for ax, key in zip(axes, ('probability', 'magnitude')):
        means, stds = [], []
        for op in ops:
            values = [p[op][key] for p in finals if p[op][key] is not None]
            means.append(statistics.mean(values) if values else 0.0)
            stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
        ax.bar(range(len(ops)), means, yerr=stds, color='tab:blue', alpha=0.8, capsize=3)
        ax.axhline(0.5, color='grey', linestyle='--', linewidth=1, label='initial value')
        ax.set_ylim(0, 1)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3, axis='y')
    axes[0].legend(loc='upper right', fontsize=8)
    axes[1].set_xticks(range(len(ops)))
    axes[1].set_xticklabels(ops, rotation=45, ha='right')
    fig.suptitle(f'Final TST policy on Fashion-MNIST, mean and std over {len(finals)} seeds '
                 '(ops without a magnitude show 0)')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    """Run the study."""
    args = parse_args(argv)
    command = 'python benchmarks/cls_quality.py ' + ' '.join(sys.argv[1:] if argv is None
                                                              else argv)
    started = time.time()
    teacher_ckpt, teacher_top1 = ensure_teacher(args)
    print(f'teacher: {teacher_ckpt}, top-1 {teacher_top1:.2f}', flush=True)
    learned_ops_ckpt = ensure_learned_ops(args) if (
        'tst_learned' in args.methods and not args.cached_only) else None
    jobs = [(method, seed) for seed in args.seeds for method in args.methods]
    missing = []
    if args.cached_only:
        missing = [f'{method} seed {seed}' for method, seed in jobs if not osp.isfile(
            osp.join(args.work_dir, f'{method}_seed{seed}', 'result.json'))]
        jobs = [(m, s) for m, s in jobs if f'{m} seed {s}' not in missing]
    results: List[Dict] = []
    lock = threading.Lock()

    def one(job):
        method, seed = job
        result = run_one(method, seed, args, teacher_ckpt, learned_ops_ckpt)
        with lock:
            results.append(result)
            write_tables(args, results, teacher_top1, command, missing)
            print(f'[{len(results)}/{len(jobs)}] {method} seed {seed}: top-1 {result["top1"]:.2f} '
                  f'({result["wall_s"]:.0f} s; {(time.time() - started) / 60:.1f} min so far)',
                  flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one, job) for job in jobs]:
            future.result()

    tst_dirs = [osp.abspath(osp.join(args.work_dir, f'tst_seed{seed}')) for seed in args.seeds]
    tst_dirs = [d for d in tst_dirs if osp.isfile(osp.join(d, POLICY_HISTORY_FILE))]
    if tst_dirs:
        run_tool(['tools/plot_policy.py', tst_dirs[0], '--out',
                  osp.join(args.out, f'{args.name}_policy.png')],
                 osp.join(args.work_dir, 'plot.log'), threads=1)
        plot_final_policies(tst_dirs, osp.join(args.out, f'{args.name}_final_policy.png'))
    with open(osp.join(args.out, f'{args.name}.md')) as f:
        print('\n' + f.read())
    print(f'total {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
