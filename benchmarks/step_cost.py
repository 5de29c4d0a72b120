"""Cost of TST's steps against a plain KD step, measured side by side in one process.

    python benchmarks/step_cost.py [--batch-sizes 32 64 128] [--image-sizes 28 56] [--rounds 15]
    python benchmarks/step_cost.py --task scenes-faster-rcnn --batch-sizes 2 4 8
    python benchmarks/step_cost.py --batch-sizes 64 --rounds 5 --stem step_cost_bestof2

For a demo pair (``--task``: the Fashion-MNIST classifiers of configs/demo/tst_fashion-mnist.py,
or the scenes Faster R-CNN / PSPNet of configs/demo/tst_{faster-rcnn,pspnet}_scenes.py), per
image size and batch size B:

- ``kd``: a distillation step on 2B real images with the augmenter off (plain KD);
- ``tst``: a TST distillation step on B images, i.e. ``[x'; x]`` = 2B images (same count);
- ``search``: a search step on B images (augmenter trained through frozen teacher and student);
- ``augment``: the augmenter's forward + backward alone on B images (its share of ``search``);
- ``bestof2`` (classification): the TST distillation step with per-sample selection,
  ``x_prime_selection=BestOfK(k=2, TeacherStudentKL)``: two augmenter draws and two no-grad
  forward passes of student and teacher on B images more than ``tst``.

Modes run interleaved, round after round, and the median of each is reported, so machine noise
hits all of them alike; the ratios are the result. Peak memory of each mode is measured in a
child process of its own (peak RSS growth on CPU, ``max_memory_allocated`` on CUDA).
``--stem`` names the result files (a small variant beside the committed table).
Also derives the share of training time spent in search for the task's full-size schedules in
``configs/tst``. Writes ``benchmarks/results/step_cost.{json,md}`` (Fashion-MNIST) or
``step_cost_<task>.{json,md}``. The scenes are timed at the input size of the task's demo config
(its ``Resize`` and data preprocessor); only Fashion-MNIST is resized by ``--image-sizes``.
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from datetime import date

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODES = ('kd', 'tst', 'search', 'augment')
#: modes timed for classification only (per-sample selection is classification-only)
CLS_MODES = ('bestof2', )
BEST_OF_2 = dict(type='tst_mm.BestOfK', k=2, score=dict(type='tst_mm.TeacherStudentKL'))
#: per task: the TST demo config, its default scope, data, the sub-folder of the scenes
#: layout it reads, and the full-size schedules whose search share is derived
TASKS = {
    'fashion-mnist': dict(config='configs/demo/tst_fashion-mnist.py', scope='mmpretrain',
                          data_root='data/fashion-mnist', layout=None,
                          schedules='configs/tst/*_in1k.py'),
    'scenes-faster-rcnn': dict(config='configs/demo/tst_faster-rcnn_scenes.py', scope='mmdet',
                               data_root='data/scenes', layout='coco',
                               schedules='configs/tst/*_coco.py'),
    'scenes-pspnet': dict(config='configs/demo/tst_pspnet_scenes.py', scope='mmseg',
                          data_root='data/scenes', layout='cityscapes',
                          schedules='configs/tst/*_cityscapes-*.py'),
}


def build_dataset(task: str, cfg, data_root: str, image_size: int, num: int):
    """The first ``num`` training samples of ``task``'s data.

    Fashion-MNIST is resized to ``image_size`` unless it is 28 (the CIFAR-style ResNets take
    any size); the scenes go through the demo config's own training pipeline.
    """
    from tst_mm.registry import DATASETS
    layout = TASKS[task]['layout']
    if layout is None:
        return DATASETS.build(dict(type='FashionMNIST', data_root=data_root, split='train',
                                   download=False, pipeline=[
                                       *([dict(type='Resize', scale=(image_size, image_size))]
                                         if image_size != 28 else []),
                                       dict(type='PackInputs')
                                   ], indices=num))
    dataset = cfg.train_dataloader.dataset.copy()
    dataset.data_root = osp.join(data_root, layout)
    dataset.indices = num
    return DATASETS.build(dataset)


def build(task: str, data_root: str, device: str, image_size: int, batch_size: int):
    """The task's demo distiller (random teacher: cost does not depend on weights), its optim
    wrapper, and collated batches of the first ``batch_size`` and ``2 * batch_size`` samples."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import tst_mm  # noqa: F401
    from tst_mm.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    init_default_scope(TASKS[task]['scope'])
    cfg = Config.fromfile(osp.join(ROOT, TASKS[task]['config']))
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = None
    cfg.model.allow_random_teacher = True  # only the cost is measured
    model = MODELS.build(cfg.model).to(device)
    model.train()
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type=cfg.optim_wrapper.constructor,
             optim_wrapper_cfg={k: v for k, v in cfg.optim_wrapper.items()
                                if k != 'constructor'}))(model)
    dataset = build_dataset(task, cfg, data_root, image_size, 2 * batch_size)
    batch_b = pseudo_collate([dataset[i] for i in range(batch_size)])
    batch_2b = pseudo_collate([dataset[i] for i in range(2 * batch_size)])
    return model, optim, batch_b, batch_2b


def task_modes(task: str) -> tuple:
    """The modes timed for ``task``."""
    return MODES + CLS_MODES if TASKS[task]['layout'] is None else MODES


def step_fn(mode: str, model, optim, batch_b, batch_2b):
    """A callable running one step of ``mode``."""
    from tst_mm.registry import MODELS
    selection = MODELS.build(BEST_OF_2) if mode == 'bestof2' else None

    def kd():
        model.augment_ratio = 0.0
        model.distill_step(copy.copy(batch_2b), optim)

    def tst():
        model.augment_ratio = 1.0
        model.distill_step(copy.copy(batch_b), optim)

    def search():
        model.search_step(copy.copy(batch_b), optim)

    def bestof2():
        model.augment_ratio = 1.0
        model.x_prime_selection = selection
        try:
            model.distill_step(copy.copy(batch_b), optim)
        finally:
            model.x_prime_selection = None

    def augment():
        data = model.data_preprocessor(copy.copy(batch_b), True)
        out, _ = model.augmenter(data['inputs'], data['data_samples'])
        out.float().mean().backward()
        model.augmenter.zero_grad()

    return dict(kd=kd, tst=tst, search=search, augment=augment, bestof2=bestof2)[mode]


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_modes(args, batch_size: int, image_size: int) -> dict:
    """Median seconds per step of each mode, interleaved, and the side of the images timed."""
    model, optim, batch_b, batch_2b = build(args.task, args.data_root, args.device, image_size,
                                            batch_size)
    modes = task_modes(args.task)
    fns = {mode: step_fn(mode, model, optim, batch_b, batch_2b) for mode in modes}
    for fn in fns.values():  # warm-up
        fn()
    times = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode, fn in fns.items():
            sync(args.device)
            start = time.perf_counter()
            fn()
            sync(args.device)
            times[mode].append(time.perf_counter() - start)
    px = int(batch_b['inputs'][0].shape[-1])
    return {mode: statistics.median(values) for mode, values in times.items()}, px


def _status_mb(key: str) -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
    return float('nan')


def reset_peak_rss() -> None:
    """Linux: make the peak RSS (VmHWM) start again from the current RSS."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def memory_child(args) -> None:
    """Child process: peak memory growth of one mode (printed as JSON)."""
    model, optim, batch_b, batch_2b = build(args.task, args.data_root, args.device,
                                            args.image_size, args.batch_size)
    fn = step_fn(args.mode, model, optim, batch_b, batch_2b)
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(3):
            fn()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        reset_peak_rss()
        base = _status_mb('VmRSS')
        for _ in range(3):
            fn()
        peak = _status_mb('VmHWM') - base
    print(json.dumps(dict(peak_mb=peak)))


def measure_memory(args, batch_size: int, image_size: int) -> dict:
    out = {}
    for mode in task_modes(args.task):
        proc = subprocess.run(
            [sys.executable, __file__, '--task', args.task, '--child-mode', mode,
             '--batch-size', str(batch_size),
             '--image-size', str(image_size), '--data-root', args.data_root,
             '--device', args.device],
            capture_output=True, text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT))
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])['peak_mb']
    return out


def search_shares(task: str, row: dict) -> list:
    """Share of training time in search for each full-size config of ``task`` in ``configs/tst``.

    A search step runs on a batch of ``B`` images, a distillation step on a batch (``[x'; x]``),
    so a search pass costs ``search / tst`` distillation epochs, and a search step ``search /
    tst`` distillation iterations.
    """
    from mmengine.config import Config
    ratio = row['seconds']['search'] / row['seconds']['tst']
    out = []
    for path in sorted(glob.glob(osp.join(ROOT, TASKS[task]['schedules']))):
        train_cfg = Config.fromfile(path).train_cfg
        if 'search_epochs' in train_cfg:
            length, unit = train_cfg.max_epochs, 'epochs'
            amount = len(train_cfg.search_epochs) * train_cfg.get('search_passes', 1)
            search_unit = 'passes'
        else:
            length, unit = train_cfg.max_iters, 'iterations'
            amount = len(train_cfg.search_at) * train_cfg.get('search_iters', 1) * \
                train_cfg.get('search_passes', 1)
            search_unit = 'steps'
        search = amount * ratio
        out.append(dict(config=osp.relpath(path, ROOT), length=length, unit=unit,
                        search=amount, search_unit=search_unit,
                        share=search / (length + search)))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--task', choices=tuple(TASKS), default='fashion-mnist')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[32, 64, 128])
    parser.add_argument('--image-sizes', type=int, nargs='+', default=None,
                        help='fashion-mnist: image sides to time (default 28, the native '
                        'size; others resize)')
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--data-root', default=None,
                        help="default: the task's data under data/")
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out-dir', default=osp.join(ROOT, 'benchmarks/results'))
    parser.add_argument('--stem', default=None,
                        help="name of the result files (default step_cost, or "
                        "step_cost_<task> for the scenes)")
    parser.add_argument('--child-mode', choices=MODES + CLS_MODES, help=argparse.SUPPRESS)
    parser.add_argument('--batch-size', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--image-size', type=int, default=28, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    task = TASKS[args.task]
    args.data_root = args.data_root or osp.join(ROOT, task['data_root'])
    if args.child_mode:
        args.mode = args.child_mode
        memory_child(args)
        return
    if args.image_sizes and task['layout']:
        parser.error('--image-sizes resizes Fashion-MNIST only; the scenes are timed at the '
                     "input size of the task's demo config")
    if not osp.isdir(args.data_root):
        maker = ('prepare_fashion_mnist.py' if task['layout'] is None else
                 f'make_scenes.py --out {args.data_root}')
        sys.exit(f'error: {args.data_root} not found; run python tools/data/{maker} first')
    command = 'python benchmarks/step_cost.py ' + ' '.join(argv or sys.argv[1:])
    rows = []
    for image_size in args.image_sizes or [28]:
        for batch_size in args.batch_sizes:
            seconds, px = time_modes(args, batch_size, image_size)
            memory = measure_memory(args, batch_size, image_size)
            rows.append(dict(batch_size=batch_size, image_size=px, seconds=seconds,
                             peak_mb=memory))
            print(f'B={batch_size} {px}px: ' + ', '.join(
                f'{m} {seconds[m] * 1000:.1f} ms' for m in seconds), flush=True)
    header = (f'Step cost, {args.task} demo pair ({task["config"]}, random weights), '
              f'{args.device}, {os.cpu_count()} cores ({torch.get_num_threads()} torch threads, '
              f'load average {os.getloadavg()[0]:.1f} at the end), torch {torch.__version__}, '
              f'{platform.machine()}, {date.today()}.\nCommand: `{command.strip()}`. Medians '
              f'of {args.rounds} interleaved rounds; memory = peak growth over 3 steps in a '
              'process of its own.')
    best_of = 'bestof2' in task_modes(args.task)
    lines = [header, '',
             '| B | px | KD step on 2B (ms) | TST step on [x\'; x] = 2B (ms) | TST / KD '
             '| search step on B (ms) | search / KD | augmenter fwd+bwd share of search '
             '| peak MB kd / tst / search |' +
             (' TST + BestOfK k=2 (ms) | BestOfK / TST | peak MB BestOfK |' if best_of else ''),
             '|---|---|---|---|---|---|---|---|---|' + ('---|---|---|' if best_of else '')]
    for row in rows:
        s, m = row['seconds'], row['peak_mb']
        lines.append(
            f"| {row['batch_size']} | {row['image_size']} | {s['kd'] * 1e3:.1f} | "
            f"{s['tst'] * 1e3:.1f} | {s['tst'] / s['kd']:.2f} | {s['search'] * 1e3:.1f} | "
            f"{s['search'] / s['kd']:.2f} | {100 * s['augment'] / s['search']:.1f}% | "
            f"{m['kd']:.0f} / {m['tst']:.0f} / {m['search']:.0f} |" +
            (f" {s['bestof2'] * 1e3:.1f} | {s['bestof2'] / s['tst']:.2f} | "
             f"{m['bestof2']:.0f} |" if best_of else ''))
    shares = search_shares(args.task, rows[-1])
    lines += ['', "Share of training time in search for the task's full-size schedules, from "
              "the last row's search / TST step ratio (a search pass costs that ratio times a "
              "distillation epoch, a search step that ratio times a distillation iteration):",
              '', '| config | schedule | search | search share |', '|---|---|---|---|']
    lines += [f"| `{r['config']}` | {r['length']} {r['unit']} | {r['search']} "
              f"{r['search_unit']} | {100 * r['share']:.1f}% |" for r in shares]
    os.makedirs(args.out_dir, exist_ok=True)
    stem = args.stem or ('step_cost' if args.task == 'fashion-mnist'
                         else f'step_cost_{args.task}')
    with open(osp.join(args.out_dir, f'{stem}.json'), 'w') as f:
        json.dump(dict(command=command, task=args.task, device=args.device,
                       torch=torch.__version__, cores=os.cpu_count(), date=str(date.today()),
                       rows=rows, search_shares=shares), f, indent=2)
    with open(osp.join(args.out_dir, f'{stem}.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
