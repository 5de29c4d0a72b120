"""Does TST beat KD? Semantic segmentation quality on the generated scenes, several seeds.

    python benchmarks/seg_quality.py [--seeds 0 1 2] [--iters 1500]

The scenes (real Fashion-MNIST garments pasted on real photos, 11 classes: background + 10
garments) are made by ``tools/data/make_scenes.py`` into ``--data-root`` with the script's
``--num-train`` / ``--num-val`` / ``--size`` / object counts (skipped when already there). One
teacher (the stock demo PSPNet ``configs/demo/pspnet_r18-tiny_scenes.py``, ResNetV1c-18 at 1/4
width, trained here once with ``--teacher-iters`` and cached) and the demo's 1/8-width
student (``configs/demo/tst_pspnet_scenes.py``) trained on the same schedule and seeds by each
method:

- ``alone``: the student's plain mmseg config (``tst_mm.utils.student_config``; no teacher);
- ``kd``: pixel-wise KL on the decode and auxiliary logits (the TST config's distillation
  losses), no augmentation;
- ``kd_random``: KD on ``[x'; x]`` with the augmenter's *initial* policy over the same op pool,
  never searched: the control that separates a learned policy from "more (augmented) images
  per step" (TST and this control both see 2x the images of ``kd`` per step);
- ``tst``: TST: the same losses on ``[x'; x]``, search phases of ``--search-iters`` steps before
  a quarter and three quarters of training;
- ``tst_online``: no search phases; one search step after every ``--online-interval``
  distillation iterations (with the defaults, as many search steps as ``tst``).

Teacher and students share the optimizer, schedule and batch size set here. Why these settings:
with the demo's own (128 px scenes, 1-3 garments each, batch 4, SGD lr 0.01, 400 iterations) the
from-scratch teacher predicts background only (mIoU 8.3). Teacher probes on one core, 128 px
scenes: SGD lr 0.05 (200 iterations, 1000 scenes), AdamW lr 2e-3 (1000 iterations, the same on
MNIST digit scenes), CE + Lovasz (500 iterations) and CE with background class weight 0.1 (600
iterations) all still predicted background only; on foreground pixels the best garment class was
right 9-12% of the time (chance), although the model overfits 8 scenes in 100 steps. It saw too
few garments per step to learn their shapes. More garments per scene (3-6), batch 8, 96 px
scenes and AdamW lr 4e-3 took off: mIoU 9.0 / 21.4 / 27.9 after 500 / 1000 / 1500 iterations
(3000 scenes, linear decay over 1500). mmseg 1.2.2's FocalLoss fails on CPU (shape error) and
its DiceLoss is not per class, so plain cross-entropy is kept.

Every run goes through ``tools/train.py`` with a config written to its work dir, one process at
a time (``--threads`` torch threads), and is tested once, at the end, on the ``--num-val``
validation scenes (mIoU of mmseg's ``IoUMetric``). Finished runs are cached (``result.json`` in
the run dir), so an interrupted study continues where it stopped. Writes
``benchmarks/results/seg_quality.{json,md}`` after every run.
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
import time
from datetime import datetime, timezone
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config
from study_runs import ROOT, comparison_notes, run_cached, run_tool, summarise, summary_table

from tst_mm.utils import last_logged_scalar, student_config

TEACHER_CONFIG = 'configs/demo/pspnet_r18-tiny_scenes.py'
TST_CONFIG = 'configs/demo/tst_pspnet_scenes.py'
METHODS = ('alone', 'kd', 'kd_random', 'tst', 'tst_online')
DESCRIPTIONS = {
    'alone': 'student alone (plain mmseg config)',
    'kd': 'KD (pixel KL, decode x1.5 + aux x0.5, T=1)',
    'kd_random': 'KD + untrained policy on [x\'; x] (p = m = 0.5)',
    'tst': 'TST (search phases)',
    'tst_online': 'TST, online search',
}
MIOU = 'mIoU'
CAVEATS = (
    '- `kd_random` and TST train the student on `[x\'; x]`, twice the images per step of '
    '`alone` and `kd`; TST also runs its search steps (hence about twice the wall time of KD).',
    '- 1500 student iterations sit on the steep part of these from-scratch learning curves '
    '(a teacher-sized probe went from 9.0 to 21.4 to 27.9 mIoU at 500 / 1000 / 1500), so the '
    'spread over seeds is large.',
    '- Nothing was tuned per method: all methods share the schedule, chosen from teacher-only '
    'probes (scored on these same test scenes), and TST keeps the demo config\'s augmenter and '
    'loss settings.',
)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    parser.add_argument('--iters', type=int, default=1500, help='student iterations')
    parser.add_argument('--teacher-iters', type=int, default=3000)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=4e-3, help='AdamW learning rate')
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
    parser.add_argument('--work-dir', default='work_dirs/bench/seg_quality')
    parser.add_argument('--out', default='benchmarks/results',
                        help='folder of seg_quality.{json,md}')
    parser.add_argument('--report-only', action='store_true',
                        help='rewrite the tables from the finished runs; train nothing')
    return parser.parse_args(argv)


def make_data_command(args) -> List[str]:
    """The ``tools/data/make_scenes.py`` command line of the benchmark's scenes."""
    return ['tools/data/make_scenes.py', '--out', args.data_root, '--num-train',
            str(args.num_train), '--num-val', str(args.num_val), '--size', str(args.size),
            '--min-objects', str(args.min_objects), '--max-objects', str(args.max_objects)]


def ensure_data(args) -> None:
    """Make the scenes (``make_scenes.py`` skips a set that is already there)."""
    os.makedirs(args.work_dir, exist_ok=True)
    run_tool(make_data_command(args), osp.join(args.work_dir, 'make_scenes.log'), threads=1)


def common_settings(cfg: Config, args, iters: int, seed: int) -> None:
    """Point ``cfg`` at the benchmark's data and give it the shared schedule, in place."""
    data_root = osp.join(osp.abspath(args.data_root), 'cityscapes')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = args.batch_size
    size = (args.size, args.size)
    cfg.data_preprocessor.size = size
    model = cfg.model.student if 'student' in cfg.model else cfg.model
    model.data_preprocessor.size = size
    optimizer = dict(type='AdamW', lr=args.lr, weight_decay=args.weight_decay)
    schedule = [dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=iters,
                     by_epoch=False)]
    if 'student' in cfg.optim_wrapper:  # a TST config: the student's part only
        cfg.optim_wrapper.student = dict(optimizer=optimizer)
        cfg.param_scheduler.student = schedule
    else:
        cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
        cfg.param_scheduler = schedule
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters  # test once, at the end
    cfg.default_hooks.logger.interval = 50
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters,
                                        max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed)


def ensure_teacher(args) -> Tuple[str, str, float]:
    """Train the teacher unless cached; return its config, checkpoint and mIoU."""
    teacher_dir = osp.abspath(osp.join(args.work_dir, 'teacher'))
    config_path = osp.join(teacher_dir, 'config.py')
    ckpt = osp.join(teacher_dir, f'iter_{args.teacher_iters}.pth')
    if not osp.isfile(ckpt):
        print(f'teacher: training {TEACHER_CONFIG}, {args.teacher_iters} iterations',
              flush=True)
        os.makedirs(teacher_dir, exist_ok=True)
        cfg = Config.fromfile(osp.join(ROOT, TEACHER_CONFIG))
        common_settings(cfg, args, args.teacher_iters, seed=0)
        cfg.dump(config_path)
        run_tool(['tools/train.py', config_path, '--work-dir', teacher_dir],
                 osp.join(teacher_dir, 'train.log'), threads=args.threads)
    miou = last_logged_scalar(teacher_dir, MIOU)
    if miou is None:
        raise RuntimeError(f'no {MIOU} logged in {teacher_dir}: test the teacher first')
    return config_path, ckpt, miou


def search_iters(args) -> int:
    """Search steps per TST search phase."""
    return args.search_iters or max(1, args.iters // 16)


def method_config(method: str, seed: int, args, teacher_config: str,
                  teacher_ckpt: str) -> Config:
    """The full config of one run."""
    cfg = Config.fromfile(osp.join(ROOT, TST_CONFIG))
    cfg.model.teacher = teacher_config
    cfg.model.teacher_ckpt = teacher_ckpt
    common_settings(cfg, args, args.iters, seed)
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    cfg.train_cfg.search_iters = search_iters(args)
    cfg.train_cfg.search_passes = 1
    if method == 'alone':
        return student_config(cfg)
    if method == 'kd':
        cfg.model.augment_ratio = 0.0
        cfg.train_cfg.search_at = []
        cfg.custom_hooks = []
    elif method == 'kd_random':
        cfg.train_cfg.search_at = []
        cfg.custom_hooks = []
    elif method == 'tst':
        cfg.train_cfg.search_at = [args.iters // 4, 3 * args.iters // 4]
    elif method == 'tst_online':
        cfg.train_cfg.search_at = []
        cfg.train_cfg.online = dict(interval=args.online_interval, steps=1)
    return cfg


def run_dir_of(method: str, seed: int, args) -> str:
    """The work dir of one (method, seed)."""
    return osp.abspath(osp.join(args.work_dir, f'{method}_seed{seed}'))


def run_one(method: str, seed: int, args, teacher_config: str, teacher_ckpt: str) -> Dict:
    """Train and test one (method, seed), or return its cached result."""
    return run_cached(run_dir_of(method, seed, args),
                      lambda: method_config(method, seed, args, teacher_config, teacher_ckpt),
                      method, seed, MIOU, 'miou', args.threads)


#: (method, baseline) pairs compared in words under the table
COMPARED = (('kd', 'alone'), ('tst', 'kd'), ('tst', 'kd_random'), ('kd_random', 'kd'),
            ('tst_online', 'kd'))


def write_tables(args, results: List[Dict], teacher_miou: float, command: str) -> None:
    """Write the raw results and the Markdown table."""
    summary = summarise(results, teacher_miou, METHODS, 'miou')
    os.makedirs(args.out, exist_ok=True)
    now = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    header = (f'Scenes semantic segmentation quality, {os.cpu_count()} CPU cores (shared), '
              f'torch {torch.__version__}, {platform.machine()}, {now}.\n'
              f'Command: `{command}`.\n'
              f'Data: `python {" ".join(make_data_command(args))}` ({args.num_train} train / '
              f'{args.num_val} test scenes, {args.size} px, {args.min_objects}-'
              f'{args.max_objects} garments each, 11 classes). '
              f'Teacher: `{TEACHER_CONFIG}` (1/4-width ResNetV1c-18 PSPNet), '
              f'{args.teacher_iters} iterations, mIoU {teacher_miou:.2f}. '
              f'Student: `{TST_CONFIG}`\'s 1/8-width PSPNet, {args.iters} iterations. All: '
              f'batch {args.batch_size}, AdamW lr {args.lr} (linear decay), weight decay '
              f'{args.weight_decay}. TST: {search_iters(args)} search steps before '
              f'{args.iters // 4} and {3 * args.iters // 4}; online: one every '
              f'{args.online_interval} iterations. Mean and sample standard deviation over '
              f'seeds; gap closed = (method - alone) / (teacher - alone); wall = time of one '
              f'run ({args.threads} thread, one run at a time).')
    lines = [header, '', *summary_table(summary, DESCRIPTIONS, 'miou', 'mIoU')]
    lines += ['', *comparison_notes(summary, DESCRIPTIONS, COMPARED, 'miou', 'mIoU'),
              *CAVEATS]
    with open(osp.join(args.out, 'seg_quality.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    settings = {key: value for key, value in vars(args).items()
                if key not in ('seeds', 'methods', 'out')}
    with open(osp.join(args.out, 'seg_quality.json'), 'w') as f:
        json.dump(dict(command=command, date=now, cores=os.cpu_count(),
                       torch=torch.__version__, teacher_miou=teacher_miou, settings=settings,
                       summary=summary, runs=results), f, indent=1)


def main(argv=None) -> None:
    """Run the study."""
    args = parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = 'python benchmarks/seg_quality.py ' + ' '.join(
        arg for arg in given if arg != '--report-only')
    started = time.time()
    ensure_data(args)
    teacher_config, teacher_ckpt, teacher_miou = ensure_teacher(args)
    print(f'teacher: {teacher_ckpt}, mIoU {teacher_miou:.2f}', flush=True)
    # cached runs first (so the table has them all at once), then the rest seed by seed, so a
    # study stopped early still has every method on the same seeds
    jobs = [(method, seed) for seed in args.seeds for method in args.methods]
    jobs.sort(key=lambda job: not osp.isfile(osp.join(run_dir_of(*job, args), 'result.json')))
    results: List[Dict] = []
    if args.report_only:
        jobs = [job for job in jobs
                if osp.isfile(osp.join(run_dir_of(*job, args), 'result.json'))]
    for method, seed in jobs:
        result = run_one(method, seed, args, teacher_config, teacher_ckpt)
        results.append(result)
        write_tables(args, results, teacher_miou, command)
        print(f'[{len(results)}/{len(jobs)}] {method} seed {seed}: mIoU {result["miou"]:.2f} '
              f'({result["wall_s"]:.0f} s; {(time.time() - started) / 60:.1f} min so far)',
              flush=True)
    with open(osp.join(args.out, 'seg_quality.md')) as f:
        print('\n' + f.read())
    print(f'total {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
