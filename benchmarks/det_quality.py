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

- ``alone``: the student's plain mmdet config (``tst_mm.launch.student_config``; no teacher);
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
import os
import os.path as osp
import platform
import sys
from typing import Dict, List

import torch
from mmengine.config import Config, ConfigDict
from scene_study import (
    apply_method,
    ensure_data,
    ensure_teacher,
    make_data_command,
    parse_scene_args,
    run_dir_of,
    run_jobs,
    search_iters,
    set_schedule,
    utc_now,
    write_tables,
)
from study_runs import ROOT, run_cached

TEACHER_CONFIG = 'configs/demo/faster-rcnn_r18-tiny_scenes.py'
TST_CONFIG = 'configs/demo/tst_faster-rcnn_scenes.py'
DESCRIPTIONS = {
    'alone': 'student alone (plain mmdet config)',
    'kd': 'KD (RoI class logits, KL, T=1)',
    'kd_random': 'KD + untrained policy on [x\'; x] (p = m = 0.5)',
    'tst': 'TST (search phases)',
    'tst_online': 'TST, online search',
    'tst_lookahead': 'TST, student-lookahead search (finite differences)',
}
MAP = 'coco/bbox_mAP'
CAVEATS = (
    '- `kd_random` and TST train the student on `[x\'; x]`, twice the images per step of '
    '`alone` and `kd`; TST also runs its search steps.',
    '- Nothing was tuned per method: all methods share the schedule, chosen from a teacher-only '
    'probe (scored on these same test scenes), and TST keeps the demo config\'s augmenter, '
    'distillation and search losses.',
)


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
    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=args.lr, weight_decay=args.weight_decay),
        clip_grad=dict(max_norm=10.0))
    schedule = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
        dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=iters, by_epoch=False)
    ]
    set_schedule(cfg, optim_wrapper, schedule, iters, seed)


def method_config(method: str, seed: int, args, teacher_config: str,
                  teacher_ckpt: str) -> Config:
    """The full config of one run."""
    cfg = Config.fromfile(osp.join(ROOT, TST_CONFIG))
    cfg.model.teacher = teacher_config
    cfg.model.teacher_ckpt = teacher_ckpt
    halve_width(cfg.model.student)
    common_settings(cfg, args, args.iters, seed)
    return apply_method(cfg, method, args)


def header(args, teacher_map: float, command: str) -> str:
    """The table's header: machine, command, data and settings."""
    return (f'Scenes object detection quality, {os.cpu_count()} CPU cores (shared), '
            f'torch {torch.__version__}, {platform.machine()}, {utc_now()}.\n'
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
            f'closed = (method - alone) / (teacher - alone); wall = time of one run on '
            f'{args.threads} thread (other jobs shared the cores: compare walls roughly).')


def main(argv=None) -> None:
    """Run the study."""
    args = parse_scene_args(__doc__.split('\n')[0], argv, 'work_dirs/bench/det_quality',
                            lr=2e-3, out_name='det_quality')
    given = sys.argv[1:] if argv is None else argv
    command = ('python benchmarks/det_quality.py ' + ' '.join(
        arg for arg in given if arg != '--report-only')).rstrip()
    ensure_data(args)
    teacher_config, teacher_ckpt, teacher_map = ensure_teacher(args, TEACHER_CONFIG,
                                                               common_settings, MAP)
    teacher_map *= 100.0
    print(f'teacher: {teacher_ckpt}, bbox mAP {teacher_map:.2f}', flush=True)

    def run_one(method: str, seed: int) -> Dict:
        return run_cached(run_dir_of(method, seed, args),
                          lambda: method_config(method, seed, args, teacher_config,
                                                teacher_ckpt),
                          method, seed, MAP, 'map', args.threads, scale=100.0)

    def write(results: List[Dict]) -> None:
        write_tables(args, args.name, header(args, teacher_map, command), results,
                     teacher_map, command, DESCRIPTIONS, 'map', 'bbox mAP', CAVEATS)

    run_jobs(args, args.name, run_one, write, 'map', 'bbox mAP')


if __name__ == '__main__':
    main()
