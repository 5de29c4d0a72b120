"""The first thing to run on a new GPU machine: every ``configs/tst`` pair, full size, a few steps.

    python tools/gpu_check.py                      # all configs, with and without AMP (< 5 min)
    python tools/gpu_check.py --configs rtmdet faster-rcnn --steps 5
    python tools/gpu_check.py --tiny --device cpu --configs resnet34   # the CPU smoke test

For each config of ``configs/tst`` it builds the distiller as the config has it (teacher with
random weights: nothing is downloaded, ``allow_random_teacher``), makes a batch of random
images at the config's training input size (the last crop of its training pipeline, else its
resize scale) and its images per GPU, with random labels of the task (boxes, masks, label
maps, classes), and times, per AMP setting (``AmpOptimWrapper`` for the student and the
augmenter, as ``tools/train.py --amp`` sets them):

- ``search``: a search step on B images (the augmenter trained through teacher and student);
- ``tst``: a distillation step on B images, i.e. on ``[x'; x]`` = 2B images;
- ``kd``: a distillation step on 2B images with the augmenter off (plain KD, same images);
- ``augment``: the augmenter's forward and backward alone on B images (its share of search);

one warm-up step then ``--steps`` timed ones each, every mode from the same weights. A config
with an ``EMAHook`` also averages the distiller after every distillation step, as the hook
does. Reported per config and AMP setting: whether every loss (and the averaged weights)
stayed finite, the peak GPU memory (``max_memory_allocated``) of each mode (it includes the
copy of the starting weights the check keeps, the size of the student and the buffers: small
next to the activations), the median step times, TST / KD and the augmenter's share of a
search step. Writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out-dir`` (default
``benchmarks/results``) and exits with 1 if any config failed or went non-finite.

``--tiny`` (for CPU tests, so this script cannot rot): 64-pixel images, one image per GPU,
one timed step.
"""
import argparse
import copy
import fnmatch
import glob
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from datetime import date
from typing import Callable, Dict, List, Optional, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODES = ('search', 'tst', 'kd', 'augment')
#: input side (pixels) and images per GPU of ``--tiny``
TINY_SIZE, TINY_BATCH = 64, 1


def input_size(cfg) -> Tuple[int, int]:
    """``(height, width)`` of the training images as the model gets them: the last crop of
    the training pipeline, else its (largest) resize scale, which mmdet writes ``(w, h)``."""
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset:  # dataset wrappers (RepeatDataset, ConcatDataset, ...)
        dataset = dataset.get('dataset') or dataset.datasets[0]
    size = None
    for transform in dataset.pipeline:
        if transform['type'] in ('RandomCrop', 'RandomResizedCrop'):
            crop = transform.get('crop_size', transform.get('scale'))
            size = (crop, crop) if isinstance(crop, int) else tuple(crop)
    if size is not None:
        return size
    for transform in dataset.pipeline:
        if transform['type'] in ('Resize', 'RandomResize'):
            scale = transform['scale']
            return (scale, scale) if isinstance(scale, int) else (min(scale), max(scale))
    raise ValueError('no crop or resize in the training pipeline: cannot tell the input size')


def random_samples(task: str, student, num: int, size: Tuple[int, int],
                   generator: torch.Generator) -> dict:
    """A collated batch of ``num`` random images of ``size`` with random labels of ``task``,
    as the task's packing transform leaves them (uint8 CHW images, data samples)."""
    height, width = size
    inputs, samples = [], []
    for _ in range(num):
        inputs.append(torch.randint(0, 256, (3, height, width), dtype=torch.uint8,
                                    generator=generator))
        meta = dict(img_shape=size, ori_shape=size, pad_shape=size, scale_factor=(1.0, 1.0),
                    flip=False, flip_direction=None)
        if task == 'classification':
            from mmpretrain.structures import DataSample
            sample = DataSample(metainfo=meta).set_gt_label(
                int(torch.randint(0, student.head.num_classes, (1, ), generator=generator)))
        elif task == 'detection':
            samples.append(_detection_sample(student, meta, generator))
            continue
        else:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            labels = torch.randint(0, student.decode_head.num_classes, (1, height, width),
                                   generator=generator)
            labels[:, :height // 8] = 255  # an ignored band, as warps and crops leave
            sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _detection_sample(student, meta: dict, generator: torch.Generator):
    """A ``DetDataSample`` with 8 random boxes (and masks, for a mask head)."""
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    height, width = meta['img_shape']
    head = getattr(getattr(student, 'roi_head', None), 'bbox_head', None) or student.bbox_head
    corners = torch.rand(8, 4, generator=generator) * torch.tensor([width, height] * 2)
    boxes = torch.cat([corners[:, :2].minimum(corners[:, 2:]),
                       corners[:, :2].maximum(corners[:, 2:]) + 8], dim=1)
    boxes = boxes.clamp(max=torch.tensor([width, height] * 2) - 1)
    instances = InstanceData(
        bboxes=HorizontalBoxes(boxes),
        labels=torch.randint(0, head.num_classes, (8, ), generator=generator))
    if getattr(getattr(student, 'roi_head', None), 'with_mask', False):
        masks = np.zeros((8, height, width), dtype=np.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes.round().int().tolist()):
            mask[y1:y2 + 1, x1:x2 + 1] = 1
        instances.masks = BitmapMasks(masks, height, width)
    sample = DetDataSample(metainfo=meta)
    sample.gt_instances = instances
    return sample


def load_config(path: str, tiny: bool):
    """The config, its teacher random (nothing downloaded), and at ``--tiny`` its data
    preprocessor's fixed padding made to fit the small images."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    cfg.model.teacher_ckpt = None
    cfg.model.allow_random_teacher = True
    student = cfg.model.student
    if tiny and isinstance(student, dict) and 'size' in student.get('data_preprocessor', {}):
        student.data_preprocessor.size = (TINY_SIZE, TINY_SIZE)
    return cfg


def build_optim(cfg, model, amp: bool):
    """The TST optim wrappers of ``cfg``, with ``AmpOptimWrapper`` for both parts if ``amp``."""
    from tst_mm.launch import enable_amp
    from tst_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS
    cfg = copy.deepcopy(cfg)
    if amp:
        enable_amp(cfg)
    return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=cfg.optim_wrapper.constructor,
        optim_wrapper_cfg={k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}))(
            model)


def build_ema(cfg, model):
    """The averaged copy an ``EMAHook`` of ``cfg`` would keep, or ``None`` without one."""
    from mmengine.registry import MODELS
    for hook in cfg.get('custom_hooks', []):
        if hook['type'].split('.')[-1] == 'EMAHook':
            args = {k: v for k, v in hook.items() if k not in ('type', 'priority',
                                                               'strict_load', 'begin_iter',
                                                               'begin_epoch')}
            return MODELS.build(dict(type=args.pop('ema_type', 'ExponentialMovingAverage'),
                                     **args), default_args=dict(model=model))
    return None


def step_fns(model, optim, batch_b: dict, batch_2b: dict, ema, losses: Dict[str, list]
             ) -> Dict[str, Callable[[], None]]:
    """One callable per mode; the steps' losses are appended to ``losses[mode]``."""
    def run(mode: str, phase: str, ratio: float, batch: dict) -> None:
        model.augment_ratio = ratio
        step = model.search_step if phase == 'search' else model.distill_step
        log_vars = step(copy.copy(batch), optim)
        losses[mode].append(float(log_vars['loss']))
        if ema is not None and phase == 'distill':
            ema.update_parameters(model)

    def augment() -> None:
        with optim['augmenter'].optim_context(model):
            data = model.data_preprocessor(copy.copy(batch_b), True)
            out, _ = model.augmenter(data['inputs'], data['data_samples'])
        out.float().mean().backward()
        model.augmenter.zero_grad()

    return dict(search=lambda: run('search', 'search', 1.0, batch_b),
                tst=lambda: run('tst', 'distill', 1.0, batch_b),
                kd=lambda: run('kd', 'distill', 0.0, batch_2b),
                augment=augment)


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def check_config(path: str, args, amp: bool) -> dict:
    """Steps of every mode for one config and AMP setting; what :func:`main` reports."""
    from mmengine.registry import DefaultScope, init_default_scope

    from tst_mm.engine.training_state import TrainingState
    from tst_mm.registry import MODELS
    cfg = load_config(path, args.tiny)
    init_default_scope(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).to(args.device)
        model.train()
        optim = build_optim(cfg, model, amp)
        ema = build_ema(cfg, model)
        size = (TINY_SIZE, TINY_SIZE) if args.tiny else input_size(cfg)
        batch = TINY_BATCH if args.tiny else cfg.train_dataloader.batch_size
        generator = torch.Generator().manual_seed(0)
        batch_2b = random_samples(model.adapter.task, model.student, 2 * batch, size,
                                  generator)
        batch_b = {key: value[:batch] for key, value in batch_2b.items()}
        losses = {mode: [] for mode in MODES}
        fns = step_fns(model, optim, batch_b, batch_2b, ema, losses)
        model.load_teacher()
        start_state = TrainingState(model, optim)  # every mode starts from the same weights
        seconds, peak_gb = {}, {}
        for mode, fn in fns.items():
            start_state.restore()
            if args.device.startswith('cuda'):
                torch.cuda.reset_peak_memory_stats()
            fn()  # warm-up
            times = []
            for _ in range(args.steps):
                sync(args.device)
                start = time.perf_counter()
                fn()
                sync(args.device)
                times.append(time.perf_counter() - start)
            seconds[mode] = statistics.median(times)
            peak_gb[mode] = (torch.cuda.max_memory_allocated() / 2**30
                             if args.device.startswith('cuda') else None)
        finite = all(torch.isfinite(torch.tensor(values)).all() for values in losses.values())
        ema_finite = None if ema is None else all(
            bool(torch.isfinite(tensor).all()) for tensor in ema.module.state_dict().values()
            if tensor.is_floating_point())
    return dict(config=osp.relpath(path, ROOT), amp=amp, images=batch, size=list(size),
                finite=finite and ema_finite is not False, ema_finite=ema_finite,
                losses={mode: values for mode, values in losses.items() if values},
                seconds=seconds, peak_gb=peak_gb,
                tst_over_kd=seconds['tst'] / seconds['kd'],
                augment_share=seconds['augment'] / seconds['search'])


def markdown(rows: List[dict], header: str) -> str:
    """The results as a table, one row per config and AMP setting."""
    lines = [header, '',
             '| config | AMP | images x px | finite | EMA | peak GB search / tst / kd | '
             'search (ms) | TST on [x\'; x] (ms) | KD on 2B (ms) | TST / KD | augmenter '
             'share of search |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for row in rows:
        name = f"`{osp.basename(row['config'])}`"
        if 'error' in row:
            lines.append(f"| {name} | {'on' if row['amp'] else 'off'} | | **error**: "
                         f"{row['error']} | | | | | | | |")
            continue
        s, m = row['seconds'], row['peak_gb']
        peak = ' / '.join('-' if m[k] is None else f'{m[k]:.1f}' for k in ('search', 'tst', 'kd'))
        ema = {None: '-', True: 'finite', False: '**non-finite**'}[row['ema_finite']]
        lines.append(
            f"| {name} | {'on' if row['amp'] else 'off'} | {row['images']} x "
            f"{row['size'][0]}x{row['size'][1]} | {'yes' if row['finite'] else '**no**'} | "
            f"{ema} | {peak} | {s['search'] * 1e3:.0f} | {s['tst'] * 1e3:.0f} | "
            f"{s['kd'] * 1e3:.0f} | {row['tst_over_kd']:.2f} | "
            f"{100 * row['augment_share']:.1f}% |")
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', default=['*'],
                        help='configs/tst file names or patterns (default: all)')
    parser.add_argument('--steps', type=int, default=3, help='timed steps per mode')
    parser.add_argument('--amp', choices=('both', 'on', 'off'), default=None,
                        help='AMP settings to run (default: both on CUDA, off elsewhere: '
                        "mmengine's AmpOptimWrapper needs CUDA)")
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--tiny', action='store_true',
                        help=f'{TINY_SIZE}-pixel images, {TINY_BATCH} per GPU, 1 timed step')
    parser.add_argument('--out-dir', default=osp.join(ROOT, 'benchmarks/results'))
    args = parser.parse_args(argv)
    if args.tiny:
        args.steps = 1
    amp = args.amp or ('both' if args.device.startswith('cuda') else 'off')
    amps = {'both': [False, True], 'on': [True], 'off': [False]}[amp]
    paths = sorted(path for path in glob.glob(osp.join(ROOT, 'configs/tst/*.py'))
                   if any(fnmatch.fnmatch(osp.basename(path), pattern if '*' in pattern
                                          else f'*{pattern}*') for pattern in args.configs))
    if not paths:
        parser.error(f'no config of configs/tst matches {args.configs}')

    import tst_mm  # noqa: F401  (registers the TST modules)
    started = time.perf_counter()
    rows = []
    for path in paths:
        for use_amp in amps:
            try:
                row = check_config(path, args, use_amp)
            except Exception as err:  # reported, and the next config still runs
                row = dict(config=osp.relpath(path, ROOT), amp=use_amp,
                           error=f'{type(err).__name__}: {str(err).splitlines()[0][:200]}')
            if args.device.startswith('cuda'):
                torch.cuda.empty_cache()
            rows.append(row)
            print(json.dumps(row), flush=True)
    total = time.perf_counter() - started
    device = (torch.cuda.get_device_name(args.device) if args.device.startswith('cuda')
              else f'{platform.processor() or platform.machine()} CPU')
    command = 'python tools/gpu_check.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    header = (f'GPU check: configs/tst at their training input size and images per GPU'
              f'{" (--tiny)" if args.tiny else ""}, random-weight teachers and random images, '
              f'{device}, torch {torch.__version__}, {date.today()}, {total:.0f} s in all.\n'
              f'Command: `{command.strip()}`. Medians of {args.steps} timed steps after one '
              'warm-up; peak = max_memory_allocated during each mode.')
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'gpu_check.json'), 'w') as f:
        json.dump(dict(command=command, device=device, torch=torch.__version__,
                       date=str(date.today()), seconds=total, rows=rows), f, indent=2)
    table = markdown(rows, header)
    with open(osp.join(args.out_dir, 'gpu_check.md'), 'w') as f:
        f.write(table)
    print(table)
    return 0 if all(row.get('finite') for row in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
