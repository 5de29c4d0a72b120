"""The main job: TST on Fashion-MNIST on a CPU in about ten minutes, end to end.

    make demo                      # set-up first, then this
    python tools/demo.py [--work-dir work_dirs/demo] [--with-baseline]

Steps: prepare Fashion-MNIST offline; train the demo teacher unless its checkpoint is cached;
distil the student with plain KD and with TST (same schedule, same seed); print a table of
top-1 accuracies (teacher, student alone when cached or with ``--with-baseline``, KD, TST) and
write the learned policy's picture. Every stage runs through ``tools/train.py`` with the
configs in ``configs/demo/``; full logs go to ``<work-dir>/*.log``.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config

from tst_mm.launch import student_config
from tst_mm.utils import last_logged_scalar

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEACHER_CONFIG = 'configs/demo/resnet18-tiny_fashion-mnist.py'
TST_CONFIG = 'configs/demo/tst_fashion-mnist.py'
#: lines of the training logs shown live, as progress
PROGRESS_MARKERS = ('Epoch(train)', 'Epoch(val)', 'TST search', 'Saving checkpoint')


def banner(text: str) -> None:
    """Print a stage heading."""
    print(f'\n=== {text}', flush=True)


def run(args: List[str], log_path: str) -> None:
    """Run a repo tool, showing progress lines and keeping the full log in ``log_path``."""
    env = dict(os.environ, PYTHONUNBUFFERED='1',
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for line in proc.stdout:
            log.write(line)
            if any(marker in line for marker in PROGRESS_MARKERS):
                print('   ' + line.rstrip().split(' - mmengine - INFO - ')[-1], flush=True)
        status = proc.wait()
    if status != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        sys.exit(f'{tail}\nerror: {" ".join(args)} failed (exit {status}); full log: '
                 f'{log_path}')
    print(f'   done in {time.time() - start:.0f}s (log: {log_path})', flush=True)


def latest_checkpoint(work_dir: str, epochs: int) -> Optional[str]:
    """The final epoch checkpoint of a run, if it finished."""
    path = osp.join(work_dir, f'epoch_{epochs}.pth')
    return path if osp.isfile(path) else None


def results_table(results: Dict[str, Optional[float]]) -> str:
    """The Markdown table of top-1 accuracies (``-`` for a run without one)."""
    lines = ['| model | top-1 (%) |', '|---|---|']
    for name, top1 in results.items():
        lines.append(f'| {name} | {"-" if top1 is None else f"{top1:.2f}"} |')
    return '\n'.join(lines)


def summary(results: Dict[str, Optional[float]], subset: int, epochs: int) -> str:
    """What the demo prints at the end (the README quotes it): a heading and the table."""
    return (f'Fashion-MNIST demo, {subset} training images, {epochs} student epochs:\n'
            f'{results_table(results)}')


def parse_args(argv=None) -> argparse.Namespace:
    """The demo's command line."""
    parser = argparse.ArgumentParser(description='TST demo on Fashion-MNIST (CPU-sized)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/fashion-mnist')
    parser.add_argument('--teacher-epochs', type=int, default=2)
    parser.add_argument('--teacher-subset', type=int, default=None,
                        help='train the teacher on this many images (default: all 60k)')
    parser.add_argument('--epochs', type=int, default=4, help='student epochs')
    parser.add_argument('--subset', type=int, default=10000,
                        help='training images the student sees (a fixed subset)')
    parser.add_argument('--val-subset', type=int, default=None,
                        help='validate on this many test images (default: all 10k)')
    parser.add_argument('--with-baseline', action='store_true',
                        help='also train the student alone (CE only) if not cached')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Run the demo."""
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    data_root = osp.abspath(args.data_root)
    started = time.time()

    banner('1/5 data: Fashion-MNIST, offline')
    run(['tools/data/prepare_fashion_mnist.py', '--out', data_root],
        osp.join(work_dir, 'data.log'))

    data_options = [f'{split}_dataloader.dataset.data_root={data_root}'
                    for split in ('train', 'val', 'test')]
    if args.val_subset:
        data_options += [f'{split}_dataloader.dataset.indices={args.val_subset}'
                         for split in ('val', 'test')]
    teacher_dir = osp.join(work_dir, 'teacher')
    teacher_ckpt = latest_checkpoint(teacher_dir, args.teacher_epochs)
    if teacher_ckpt:
        banner(f'2/5 teacher: cached at {teacher_ckpt}')
    else:
        banner(f'2/5 teacher: training {TEACHER_CONFIG} on 60k images, '
               f'{args.teacher_epochs} epochs')
        run(['tools/train.py', TEACHER_CONFIG, '--work-dir', teacher_dir, '--cfg-options',
             *data_options, f'train_cfg.max_epochs={args.teacher_epochs}',
             *([f'train_dataloader.dataset.indices={args.teacher_subset}']
               if args.teacher_subset else []),
             f'param_scheduler.end={args.teacher_epochs}'],
            osp.join(work_dir, 'teacher.log'))
        teacher_ckpt = latest_checkpoint(teacher_dir, args.teacher_epochs)

    # search phases a quarter and three quarters into training, as [1, 3] of the config's 4
    search_epochs = sorted({args.epochs // 4, min(args.epochs - 1, 3 * args.epochs // 4)})
    student_options = [*data_options, f'model.teacher_ckpt={teacher_ckpt}',
                       f'train_dataloader.dataset.indices={args.subset}',
                       f'train_cfg.max_epochs={args.epochs}',
                       f'param_scheduler.student.0.end={args.epochs}']
    student_options.append(f'train_cfg.val_interval={args.epochs}')  # validate once, at the end
    # the baseline is the plain mmpretrain config of the student: no teacher in the loop
    plain_config = osp.join(work_dir, 'student_alone.py')
    student_config(Config.fromfile(osp.join(ROOT, TST_CONFIG))).dump(plain_config)
    runs = {
        'student alone': (plain_config, [
            opt for opt in student_options if not opt.startswith(('model.', 'param_scheduler'))
        ] + [f'param_scheduler.0.end={args.epochs}']),
        'KD': (TST_CONFIG, [*student_options, 'model.augment_ratio=0',
                            'train_cfg.search_epochs=[]', 'custom_hooks=[]']),
        'TST': (TST_CONFIG, [*student_options,
                             f'train_cfg.search_epochs={search_epochs}'.replace(' ', '')]),
    }
    results = {'teacher': last_logged_scalar(teacher_dir, 'accuracy/top1')}
    for step, (name, (config, options)) in enumerate(runs.items(), start=3):
        run_dir = osp.join(work_dir, name.replace(' ', '_').lower())
        cached = latest_checkpoint(run_dir, args.epochs)
        if name == 'student alone' and not (cached or args.with_baseline):
            continue
        if cached:
            banner(f'{name}: cached at {cached}')
        else:
            banner(f'{step}/5 {name}: student on {args.subset} '
                   f'images, {args.epochs} epochs')
            run(['tools/train.py', config, '--work-dir', run_dir, '--cfg-options', *options],
                osp.join(work_dir, f'{osp.basename(run_dir)}.log'))
        results[name] = last_logged_scalar(run_dir, 'accuracy/top1')

    tst_dir = osp.join(work_dir, 'tst')
    run(['tools/plot_policy.py', tst_dir, '--out', osp.join(work_dir, 'tst_policy.png')],
        osp.join(work_dir, 'plot.log'))

    table = results_table(results)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(f'Fashion-MNIST demo ({args.subset} training images, {args.epochs} student '
                f'epochs, seed 0)\n\n{table}\n')
    print(f'\n{summary(results, args.subset, args.epochs)}')
    print(f'\nlearned policy: {osp.join(work_dir, "tst_policy.png")}')
    print(f'augmented samples: {osp.join(tst_dir, "tst_samples")}')
    print(f'total time: {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
