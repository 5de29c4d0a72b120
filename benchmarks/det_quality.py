"""Does TST beat KD? Object detection quality (bbox mAP) on the generated scenes, several seeds.

    python benchmarks/det_quality.py [--seeds 0 1 2] [--iters 1500]

The scenes (real Fashion-MNIST garments pasted on real photos, COCO format, 10 classes) are made
by ``tools/data/make_scenes.py`` into ``--data-root`` with the script's ``--num-train`` /
``--num-val`` / ``--size`` / object counts (skipped when already there; the defaults are the
segmentation study's scenes, so the two studies share one data set). One teacher (the stock demo
Faster R-CNN ``configs/demo/faster-rcnn_r18-tiny_scenes.py``: ResNet-18 layout at 1/4 width,
slim FPN and heads; trained here once with ``--teacher-iters`` and cached) and a student at half
its width (1/8 of ResNet-18, FPN and heads halved too) trained on the same schedule and seeds by
each method:

- ``alone``: the student's plain mmdet config (``tst_mm.utils.student_config``; no teacher);
- ``kd``: KL between the student's and the teacher's RoI-head class logits on the student's
  proposals (the TST demo config's distillation loss), no augmentation;
- ``kd_random``: KD on ``[x'; x]`` with the augmenter's *initial* policy over the same op pool
  (boxes moved with the pixels), never searched: the control that separates a learned policy
  from "more (augmented) images per step";
- ``tst``: TST: the same losses on ``[x'; x]``, search phases of ``--search-iters`` steps before
  a quarter and three quarters of training (teacher task losses + the student's inverted task
  losses);
- ``tst_online``: no search phases; one search step after every ``--online-interval``
  distillation iterations.

Why these settings: with the demo's own (128 px scenes, 1-3 garments each, batch 4, SGD) the
CPU-sized detectors learned too little to compare methods (session notes of issue #4). The
segmentation study's recipe works here too: a teacher probe (96 px scenes, 3-6 garments, batch 8,
AdamW lr 2e-3 with 50 warm-up iterations and linear decay, gradients clipped at norm 10) reached
bbox mAP 18.1 / 29.0 / 33.1 after 500 / 1000 / 1500 iterations.

Every run goes through ``tools/train.py`` with a config written to its work dir, one process at
a time (``--threads`` torch threads), and is tested once, at the end, on the ``--num-val``
validation scenes with mmdet's ``CocoMetric`` (``coco/bbox_mAP``, reported in %). Finished runs
are cached (``result.json`` in the run dir), so an interrupted study continues where it
stopped. Writes ``benchmarks/results/det_quality.{json,md}`` after every run.
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
from mmengine.config import Config, ConfigDict
from study_runs import ROOT, comparison_notes, run_cached, run_tool, summarise, summary_table

from tst_mm.utils import last_logged_scalar, student_config

TEACHER_CONFIG = 'configs/demo/faster-rcnn_r18-tiny_scenes.py'
TST_CONFIG = 'configs/demo/tst_faster-rcnn_scenes.py'
METHODS = ('alone', 'kd', 'kd_random', 'tst', 'tst_online')
DESCRIPTIONS = {
    'alone': 'student alone (plain mmdet config)',
    'kd': 'KD (RoI class logits, KL, T=1)',
    'kd_random': 'KD + untrained policy on [x\'; x] (p = m = 0.5)',
    'tst': 'TST (search phases)',
    'tst_online': 'TST, online search',
}
MAP = 'coco/bbox_mAP'
#: (method, baseline) pairs compared in words under the table
COMPARED = (('kd', 'alone'), ('tst', 'kd'), ('tst', 'kd_random'), ('kd_random', 'kd'),
            ('tst_online', 'kd'))
CAVEATS = (
    '- `kd_random` and TST train the student on `[x\'; x]`, twice the images per step of '
    '`alone` and `kd`; TST also runs its search steps.',
    '- Nothing was tuned per method: all methods share the schedule, chosen from a teacher-only '
    'probe (scored on these same test scenes), and TST keeps the demo config\'s augmenter, '
    'distillation and search losses.',
)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    parser.add_argument('--iters', type=int, default=1500, help='student iterations')
    parser.add_argument('--teacher-iters', type=int, default=3000)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=2e-3, help='AdamW learning rate')
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
    parser.add_argument('--work-dir', default='work_dirs/bench/det_quality')
    parser.add_argument('--out', default='benchmarks/results',
                        help='folder of det_quality.{json,md}')
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


def halve_width(model: ConfigDict) -> None:
    """Halve the demo Faster R-CNN's channels, in place: the study's student."""
    model.backbone.base_channels //= 2
    model.neck.in_channels = [channels // 2 for channels in model.neck.in_channels]
    model.neck.out_channels //= 2
    model.rpn_head.in_channels //= 2
    model.rpn_head.feat_channels //= 2
    model.roi_head.bbox_roi_extractor.out_channels //= 2
    model.roi_head.bbox_head.in_channels //= 2
    model.roi_head.bbox_head.fc_out_channels //= 2


def common_settings(cfg: Config, args, iters: int, seed: int) -> None:
    """Point ``cfg`` at the benchmark's data and give it the shared schedule, in place."""
    data_root = osp.join(osp.abspath(args.data_root), 'coco') + os.sep
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        dataset.data_root = data_root
        for transform in dataset.pipeline:
            if transform['type'] == 'Resize':
                transform['scale'] = (args.size, args.size)
        cfg[f'{split}_dataloader'].batch_size = args.batch_size
    for split in ('val', 'test'):
        cfg[f'{split}_evaluator'].ann_file = data_root + 'annotations/instances_val.json'
    optimizer = dict(optimizer=dict(type='AdamW', lr=args.lr, weight_decay=args.weight_decay),
                     clip_grad=dict(max_norm=10.0))
    schedule = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
        dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=iters, by_epoch=False)
    ]
    if 'student' in cfg.optim_wrapper:  # a TST config: the student's part only
        cfg.optim_wrapper.student = optimizer
        cfg.param_scheduler.student = schedule
        cfg.train_cfg = dict(type='tst_mm.TSTIterBasedTrainLoop', max_iters=iters,
                             val_interval=iters)
    else:
        cfg.optim_wrapper = dict(type='OptimWrapper', **optimizer)
        cfg.param_scheduler = schedule
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    cfg.log_processor = dict(by_epoch=False)
    cfg.default_hooks.logger.interval = 50
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters,
                                        max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed)


def ensure_teacher(args) -> Tuple[str, str, float]:
    """Train the teacher unless cached; return its config, checkpoint and mAP (%)."""
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
    mean_ap = last_logged_scalar(teacher_dir, MAP)
    if mean_ap is None:
        raise RuntimeError(f'no {MAP} logged in {teacher_dir}: test the teacher first')
    return config_path, ckpt, 100.0 * mean_ap


def search_iters(args) -> int:
    """Search steps per TST search phase."""
    return args.search_iters or max(1, args.iters // 16)


def method_config(method: str, seed: int, args, teacher_config: str,
                  teacher_ckpt: str) -> Config:
    """The full config of one run."""
    cfg = Config.fromfile(osp.join(ROOT, TST_CONFIG))
    cfg.model.teacher = teacher_config
    cfg.model.teacher_ckpt = teacher_ckpt
    halve_width(cfg.model.student)
    common_settings(cfg, args, args.iters, seed)
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    cfg.train_cfg.search_iters = search_iters(args)
    if method == 'alone':
        return student_config(cfg)
    if method == 'kd':
        cfg.model.augment_ratio = 0.0
        cfg.custom_hooks = []
    elif method == 'kd_random':
        cfg.custom_hooks = []
    elif method == 'tst':
        cfg.train_cfg.search_at = [args.iters // 4, 3 * args.iters // 4]
    elif method == 'tst_online':
        cfg.train_cfg.online = dict(interval=args.online_interval, steps=1)
    return cfg


def run_dir_of(method: str, seed: int, args) -> str:
    """The work dir of one (method, seed)."""
    return osp.abspath(osp.join(args.work_dir, f'{method}_seed{seed}'))


def run_one(method: str, seed: int, args, teacher_config: str, teacher_ckpt: str) -> Dict:
    """Train and test one (method, seed), or return its cached result."""
    return run_cached(run_dir_of(method, seed, args),
                      lambda: method_config(method, seed, args, teacher_config, teacher_ckpt),
                      method, seed, MAP, 'map', args.threads, scale=100.0)


def write_tables(args, results: List[Dict], teacher_map: float, command: str) -> None:
    """Write the raw results and the Markdown table."""
    summary = summarise(results, teacher_map, METHODS, 'map')
    os.makedirs(args.out, exist_ok=True)
    now = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    header = (f'Scenes object detection quality, {os.cpu_count()} CPU cores (shared), '
              f'torch {torch.__version__}, {platform.machine()}, {now}.\n'
              f'Command: `{command}`.\n'
              f'Data: `python {" ".join(make_data_command(args))}` ({args.num_train} train / '
              f'{args.num_val} test scenes, {args.size} px, {args.min_objects}-'
              f'{args.max_objects} garments each, 10 classes). '
              f'Teacher: `{TEACHER_CONFIG}` (Faster R-CNN, 1/4-width ResNet-18 + FPN), '
              f'{args.teacher_iters} iterations, bbox mAP {teacher_map:.2f}. '
              f'Student: the same at half the width (1/8), {args.iters} iterations, distilled '
              f'with `{TST_CONFIG}`\'s losses. All: batch {args.batch_size}, AdamW lr {args.lr} '
              f'(50 warm-up iterations, linear decay), weight decay {args.weight_decay}, '
              f'gradient norm clipped at 10. TST: {search_iters(args)} search steps before '
              f'{args.iters // 4} and {3 * args.iters // 4}; online: one every '
              f'{args.online_interval} iterations. bbox mAP of mmdet\'s CocoMetric on the '
              f'{args.num_val} test scenes; mean and sample standard deviation over seeds; gap '
              f'closed = (method - alone) / (teacher - alone); wall = time of one run '
              f'({args.threads} thread, one run at a time).')
    lines = [header, '', *summary_table(summary, DESCRIPTIONS, 'map', 'bbox mAP')]
    lines += ['', *comparison_notes(summary, DESCRIPTIONS, COMPARED, 'map', 'mAP'), *CAVEATS]
    with open(osp.join(args.out, 'det_quality.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    settings = {key: value for key, value in vars(args).items()
                if key not in ('seeds', 'methods', 'out')}
    with open(osp.join(args.out, 'det_quality.json'), 'w') as f:
        json.dump(dict(command=command, date=now, cores=os.cpu_count(),
                       torch=torch.__version__, teacher_map=teacher_map, settings=settings,
                       summary=summary, runs=results), f, indent=1)


def main(argv=None) -> None:
    """Run the study."""
    args = parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = 'python benchmarks/det_quality.py ' + ' '.join(
        arg for arg in given if arg != '--report-only')
    started = time.time()
    ensure_data(args)
    teacher_config, teacher_ckpt, teacher_map = ensure_teacher(args)
    print(f'teacher: {teacher_ckpt}, bbox mAP {teacher_map:.2f}', flush=True)
    # cached runs first (so the table has them all at once), then the rest seed by seed, so a
    # study stopped early still has every method on the same seeds
    jobs = [(method, seed) for seed in args.seeds for method in args.methods]
    jobs.sort(key=lambda job: not osp.isfile(osp.join(run_dir_of(*job, args), 'result.json')))
    if args.report_only:
        jobs = [job for job in jobs
                if osp.isfile(osp.join(run_dir_of(*job, args), 'result.json'))]
    results: List[Dict] = []
    for method, seed in jobs:
        result = run_one(method, seed, args, teacher_config, teacher_ckpt)
        results.append(result)
        write_tables(args, results, teacher_map, command)
        print(f'[{len(results)}/{len(jobs)}] {method} seed {seed}: bbox mAP '
              f'{result["map"]:.2f} ({result["wall_s"]:.0f} s; '
              f'{(time.time() - started) / 60:.1f} min so far)', flush=True)
    with open(osp.join(args.out, 'det_quality.md')) as f:
        print('\n' + f.read())
    print(f'total {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
