"""Training throughput of TST on 1 vs 2 processes (torch.distributed, gloo on CPU).

    python benchmarks/dist_throughput.py --teacher-ckpt work_dirs/demo/teacher/epoch_2.pth \\
        --data-root data/fashion-mnist [--procs 1 2] [--tasks fashion-mnist scenes-faster-rcnn]

For each demo and process count, trains the TST demo config through ``tools/dist_train.sh``
(so 1 process is the same torchrun launch as 2) with ``benchmarks/throughput_hook.py``:

- ``fashion-mnist``: ``configs/demo/tst_fashion-mnist.py`` (teacher ``--teacher-ckpt``, data
  ``--data-root``), a subset of ``--fashion-images`` training images;
- ``scenes-faster-rcnn``: ``configs/demo/tst_faster-rcnn_scenes.py`` on the generated scenes
  (``--scenes-root``; made with ``tools/data/make_scenes.py`` when missing), teacher
  ``--det-teacher-ckpt`` or, when not given, the demo detector with random weights (the cost
  of a step does not depend on the weights).

The batch size is per process, as in every mm config, so 2 processes train on twice the
global batch; each process gets ``cores / processes`` threads (``OMP_NUM_THREADS``) so both
settings use the whole machine. Images/s counts the images of the batches (per process, times
the processes) over the time between consecutive steps (data loading included), for
distillation steps (each one runs the student on ``[x'; x]``) and search steps separately,
after ``--warmup`` steps of each kind. Validation and checkpoints are switched off. Run it on
a quiet machine: the header records the load average, and OpenMP threads that share cores
with other jobs slow down far more than the share they lose.
Writes ``benchmarks/results/dist_throughput.{json,md}`` (``--out-dir``).
"""
import argparse
import json
import os
import os.path as osp
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
from datetime import date
from typing import List, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASKS = {
    'fashion-mnist': dict(config='configs/demo/tst_fashion-mnist.py',
                          teacher='configs/demo/resnet18-tiny_fashion-mnist.py'),
    'scenes-faster-rcnn': dict(config='configs/demo/tst_faster-rcnn_scenes.py',
                               teacher='configs/demo/faster-rcnn_r18-tiny_scenes.py'),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def task_options(task: str, args: argparse.Namespace) -> List[str]:
    """``--cfg-options`` of one demo: data, teacher, size of the run; no val, no checkpoints."""
    common = [f'model.teacher={osp.join(ROOT, TASKS[task]["teacher"])}',
              f'train_cfg.max_epochs={args.epochs}', 'train_cfg.search_epochs=[1]',
              'train_cfg.search_passes=1', 'train_cfg.search_checkpoint=False',
              f'train_cfg.val_begin={args.epochs + 1}', 'default_hooks.logger.interval=50',
              f'default_hooks.checkpoint.interval={args.epochs + 1}']
    if task == 'fashion-mnist':
        return common + [
            f'{split}_dataloader.dataset.data_root={osp.abspath(args.data_root)}'
            for split in ('train', 'val', 'test')] + [
            f'model.teacher_ckpt={osp.abspath(args.teacher_ckpt)}',
            f'train_dataloader.dataset.indices={args.fashion_images}',
            f'train_dataloader.batch_size={args.fashion_batch}',
            f'param_scheduler.student.0.end={args.epochs}']
    coco = osp.join(osp.abspath(args.scenes_root), 'coco') + '/'
    ann = coco + 'annotations/instances_val.json'
    teacher = osp.abspath(args.det_teacher_ckpt) if args.det_teacher_ckpt else None
    return common + [f'{split}_dataloader.dataset.data_root={coco}'
                     for split in ('train', 'val', 'test')] + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        f'model.teacher_ckpt={teacher}', f'model.allow_random_teacher={teacher is None}',
        f'train_dataloader.dataset.indices={args.scenes_images}',
        f'train_dataloader.batch_size={args.scenes_batch}']


def ensure_scenes(scenes_root: str, fashion_root: str) -> None:
    """Generate the COCO scenes with the project's own tool if they are not there."""
    if osp.exists(osp.join(scenes_root, 'coco', 'annotations', 'instances_train.json')):
        return
    subprocess.run([sys.executable, 'tools/data/make_scenes.py', '--out', scenes_root,
                    '--fmnist-dir', fashion_root], cwd=ROOT, check=True,
                   env=dict(os.environ, PYTHONPATH=ROOT))


def run_one(task: str, nproc: int, args: argparse.Namespace, work_dir: str) -> dict:
    """Train one demo on ``nproc`` processes; return the timing hook's sums."""
    os.makedirs(work_dir, exist_ok=True)
    out = osp.join(work_dir, 'throughput.json')
    config = osp.join(work_dir, 'bench_config.py')
    with open(config, 'w') as f:
        f.write(f"_base_ = ['{osp.join(ROOT, TASKS[task]['config'])}']\n"
                "custom_imports = dict(imports=['tst_mm', 'throughput_hook'], "
                "allow_failed_imports=False)\n"
                f"custom_hooks = [dict(type='DistThroughputHook', out={out!r}, "
                f"warmup={args.warmup})]\n")
    threads = args.threads_per_proc or max(1, (os.cpu_count() or 1) // nproc)
    env = dict(os.environ, PORT=str(_free_port()), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([ROOT, osp.join(ROOT, 'benchmarks')]),
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run(['bash', 'tools/dist_train.sh', config, str(nproc), '--work-dir',
                           work_dir, '--cfg-options', *task_options(task, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    with open(osp.join(work_dir, 'train.log'), 'w') as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f'{task} on {nproc} processes failed:\n'
                           f'{(proc.stdout + proc.stderr)[-5000:]}')
    with open(out) as f:
        stats = json.load(f)
    row = dict(task=task, procs=nproc, threads_per_proc=threads)
    for kind in ('distill', 'search'):
        s = stats[kind]
        timed = s['steps'] > 0  # None (JSON null) where too few steps ran to time any
        row[kind] = dict(steps=s['steps'], seconds=round(s['seconds'], 3),
                         images_per_s=round(s['images'] / s['seconds'] * stats['world_size'], 1)
                         if timed else None,
                         seconds_per_step=round(s['seconds'] / s['steps'], 4) if timed else None)
    return row


def _cell(row: dict, kind: str) -> str:
    value = row[kind]['images_per_s']
    return '-' if value is None else f'{value:.1f}'


def write_results(rows: List[dict], args: argparse.Namespace, command: str,
                  load: float) -> None:
    """``dist_throughput.json`` (all numbers) and ``dist_throughput.md`` (the table).

    Args:
        rows: One per demo and process count, from :func:`run_one`.
        args: The parsed command line.
        command: The command line, for the header.
        load: The machine's 1-minute load average before the runs (other jobs skew threads).
    """
    os.makedirs(args.out_dir, exist_ok=True)
    machine = dict(cores=os.cpu_count(), torch=torch.__version__, arch=platform.machine(),
                   cuda=torch.cuda.is_available(), python=platform.python_version(),
                   load_average_before=round(load, 2))
    with open(osp.join(args.out_dir, 'dist_throughput.json'), 'w') as f:
        json.dump(dict(command=command, date=str(date.today()), machine=machine,
                       settings=dict(epochs=args.epochs, warmup=args.warmup,
                                     fashion_images=args.fashion_images,
                                     fashion_batch=args.fashion_batch,
                                     scenes_images=args.scenes_images,
                                     scenes_batch=args.scenes_batch,
                                     det_teacher_ckpt=args.det_teacher_ckpt),
                       rows=rows), f, indent=2)
    batches = dict(zip(TASKS, (args.fashion_batch, args.scenes_batch)))
    header = (f'Training throughput of TST, 1 vs 2 processes (torch.distributed, gloo on CPU), '
              f'{os.cpu_count()} cores, torch {torch.__version__}, {platform.machine()}, '
              f'Python {platform.python_version()}, {date.today()}; 1-minute load average '
              f'before the runs {load:.2f}.\n'
              f'Command: `{command}`. Batch per process as in the table '
              '(global batch = processes x batch); threads per process = cores / processes; '
              f'first {args.warmup} steps of each kind dropped; images/s over the time between '
              'consecutive steps (data loading included), summed over processes. A '
              "distillation step runs the student on [x'; x]; a search step trains the "
              'augmenter through the frozen teacher and student.')
    lines = [header, '',
             '| demo | batch / process | processes | threads / process | distillation '
             'img/s | speed-up | search img/s | speed-up | timed steps (distill / search) |',
             '|---|---|---|---|---|---|---|---|---|']
    for task in TASKS:
        task_rows = [row for row in rows if row['task'] == task]
        base = next((row for row in task_rows if row['procs'] == 1), None)
        for row in task_rows:
            speed = {kind: (f"{row[kind]['images_per_s'] / base[kind]['images_per_s']:.2f}x"
                            if base and base[kind]['images_per_s'] and row[kind]['images_per_s']
                            else '-')
                     for kind in ('distill', 'search')}
            lines.append(
                f"| {task} | {batches[task]} | {row['procs']} | {row['threads_per_proc']} | "
                f"{_cell(row, 'distill')} | {speed['distill']} | {_cell(row, 'search')} | "
                f"{speed['search']} | {row['distill']['steps']} / {row['search']['steps']} |")
    if any(row['task'] == 'scenes-faster-rcnn' for row in rows) and not args.det_teacher_ckpt:
        lines += ['', 'Detection teacher: the demo detector with random weights (a step costs '
                  'the same whatever the weights).']
    with open(osp.join(args.out_dir, 'dist_throughput.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS), default=list(TASKS))
    parser.add_argument('--procs', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--teacher-ckpt',
                        default=osp.join(ROOT, 'work_dirs/demo/teacher/epoch_2.pth'),
                        help='Fashion-MNIST teacher checkpoint (tools/demo.py trains it)')
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data/fashion-mnist'),
                        help='Fashion-MNIST IDX files (tools/data/prepare_fashion_mnist.py)')
    parser.add_argument('--scenes-root', default=osp.join(ROOT, 'data/scenes'),
                        help='generated scenes; made here with tools/data/make_scenes.py '
                        'when missing')
    parser.add_argument('--det-teacher-ckpt', default=None,
                        help='detection teacher checkpoint; default: random weights')
    parser.add_argument('--epochs', type=int, default=3,
                        help='student epochs (a search pass runs before epoch 2)')
    parser.add_argument('--warmup', type=int, default=3, help='steps of each kind not timed')
    parser.add_argument('--fashion-images', type=int, default=5120)
    parser.add_argument('--fashion-batch', type=int, default=128)
    parser.add_argument('--scenes-images', type=int, default=64)
    parser.add_argument('--scenes-batch', type=int, default=2)
    parser.add_argument('--threads-per-proc', type=int, default=None,
                        help='default: cores / processes')
    parser.add_argument('--work-dir', default=None, help='default: a temporary directory')
    parser.add_argument('--out-dir', default=osp.join(ROOT, 'benchmarks/results'))
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error('--epochs must be >= 2 (the search pass runs before epoch 2)')
    command = 'python benchmarks/dist_throughput.py ' + ' '.join(
        shlex.quote(arg) for arg in (argv if argv is not None else sys.argv[1:]))
    if 'fashion-mnist' in args.tasks and not osp.isfile(args.teacher_ckpt):
        parser.error(f'--teacher-ckpt {args.teacher_ckpt} not found (python tools/demo.py '
                     'trains the demo teacher)')
    if 'scenes-faster-rcnn' in args.tasks:
        ensure_scenes(args.scenes_root, args.data_root)
    load = os.getloadavg()[0]
    work_root = args.work_dir or tempfile.mkdtemp(prefix='dist_throughput_')
    rows = []
    for task in args.tasks:
        for nproc in args.procs:
            row = run_one(task, nproc, args, osp.join(work_root, f'{task}_{nproc}proc'))
            print(json.dumps(row), flush=True)
            rows.append(row)
    write_results(rows, args, command.strip(), load)
    print(f"wrote {osp.join(args.out_dir, 'dist_throughput.md')}")


if __name__ == '__main__':
    main()
