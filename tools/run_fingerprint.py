"""Fingerprint short TST trainings, to prove that a refactor changed no computed number.

    python tools/run_fingerprint.py --out before.json               # on the old commit
    python tools/run_fingerprint.py --out after.json --compare before.json

For each task (``cls``: the Fashion-MNIST demo, two epochs with a search phase before each;
``cls-gated`` / ``cls-disagree`` / ``cls-lookahead``: the same with the teacher-gated /
disagreement / student-lookahead objective (exact, with the learned weight of x');
``det``: the Faster R-CNN scenes demo, two epochs with a search phase before each; ``seg``:
the PSPNet scenes demo, 12 iterations with two search phases; ``det-lookahead``: ``det``
with the student-lookahead objective by finite differences) a real mmengine Runner trains
from a random teacher built with a fixed seed, on one thread. The fingerprint holds the
SHA-256 of every tensor of the final model, of the optimizers' states, and every scalar the
message hub logged (values and counts), so "identical" means bit for bit. ``--compare`` exits
1 and names the first differences when anything moved.

Fingerprints are comparable only on one machine and one software stack (thread count, CPU
kernels); make the reference there first.
"""
import argparse
import copy
import hashlib
import json
import os
import os.path as osp
import sys
import tempfile
from typing import Dict, List, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASKS = ('cls', 'cls-gated', 'cls-disagree', 'cls-lookahead', 'det', 'det-lookahead', 'seg')
#: Training images, batch size and student lr schedule of each task's short training.
SCHEDULES = {
    'cls': (256, 64, dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=2)),
    'det': (8, 4, dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)),
    'seg': (8, 4, dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=12,
                       by_epoch=False)),
}
#: What a ``<task>-<variant>`` task changes in its task's config (dotted keys): another search
#: objective (the plain tasks run the paper's, the default) and what comes with it. A dict
#: value is merged into the config's (``_delete_`` replaces it: SGD's momentum is no Adam key).
_ADAM = dict(_delete_=True, type='Adam', lr=0.05)
VARIANTS = {
    'cls-gated': {'model.search_objective': dict(type='tst_mm.TeacherGatedObjective',
                                                 hinge_weight=3.0)},
    'cls-disagree': {'model.search_objective': dict(type='tst_mm.DisagreementObjective')},
    'cls-lookahead': {'model.search_objective': dict(type='tst_mm.StudentLookahead',
                                                     estimator='exact'),
                      'model.augmenter.learn_x_prime_weight': True,
                      'optim_wrapper.augmenter.optimizer': _ADAM},
    'det-lookahead': {'model.search_objective': dict(type='tst_mm.StudentLookahead'),
                      'optim_wrapper.augmenter.optimizer': _ADAM},
}


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes."""
    tensor = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f'{tensor.dtype}{tuple(tensor.shape)}'.encode())
    digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def flat_digests(obj, prefix: str = '') -> Dict[str, str]:
    """Digests of every tensor (and repr of every other leaf) in nested dicts / lists."""
    if isinstance(obj, torch.Tensor):
        return {prefix: tensor_digest(obj)}
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            out.update(flat_digests(value, f'{prefix}.{key}' if prefix else str(key)))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, value in enumerate(obj):
            out.update(flat_digests(value, f'{prefix}[{i}]'))
        return out
    return {prefix: repr(obj)}


def _data_options(task: str, data: str) -> List[str]:
    if task == 'cls':
        return [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val')]
    if task == 'det':
        coco = osp.join(data, 'coco') + '/'
        ann = coco + 'annotations/instances_val.json'
        return [f'{split}_dataloader.dataset.data_root={coco}' for split in ('train', 'val')
                ] + [f'val_evaluator.ann_file={ann}']
    root = osp.join(data, 'cityscapes') + '/'
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val')]


def task_config(task: str, data: str, work_dir: str):
    """The short training of ``task``: its demo config, small, with two search phases."""
    from mmengine.config import Config
    variant = VARIANTS.get(task, {})
    task = task.split('-')[0]
    config = {'cls': 'configs/demo/tst_fashion-mnist.py',
              'det': 'configs/demo/tst_faster-rcnn_scenes.py',
              'seg': 'configs/demo/tst_pspnet_scenes.py'}[task]
    cfg = Config.fromfile(osp.join(ROOT, config))
    options = {}
    for option in _data_options(task, data):
        key, value = option.split('=', 1)
        options[key] = value
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = osp.join(work_dir, 'teacher.pth')
    if variant:  # an objective of its own: the paper's settings go
        cfg.model.pop('weakness_loss', None)
        cfg.model.pop('search_loss_weights', None)
        cfg.merge_from_dict(copy.deepcopy(variant))  # merging pops ``_delete_``
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**6)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    # a named visualizer is one instance per process (mmengine's ManagerMixin): the second
    # task of that name would write its scalars into the first one's folder
    cfg.visualizer.pop('name', None)
    cfg.randomness = dict(seed=0)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    images, batch, scheduler = SCHEDULES[task]
    cfg.train_dataloader.dataset.indices = images
    cfg.train_dataloader.batch_size = batch
    cfg.param_scheduler.student = [scheduler]
    if task == 'seg':  # iterations: 12, with search phases of 2 steps at 0 and 6
        cfg.train_cfg.update(max_iters=12, search_at=[0, 6], search_iters=2)
    else:  # epochs: 2, with a search phase before each
        cfg.train_cfg.update(max_epochs=2, search_epochs=[0, 1])
    cfg.train_cfg.pop('val_interval', None)
    cfg.train_cfg.pop('val_begin', None)
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if 'SampleGrid' not in h['type'] and 'TeacherEval' not in h['type']]
    return cfg


def save_random_teacher(cfg) -> None:
    """Build the teacher from its config with seed 0 and save it where the config expects."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    teacher_cfg = Config.fromfile(cfg.model.teacher)
    init_default_scope(teacher_cfg.get('default_scope', 'mmpretrain'))
    torch.manual_seed(0)
    teacher = MODELS.build(teacher_cfg.model)
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, cfg.model.teacher_ckpt)


def fingerprint_task(task: str, data: str, work_dir: str) -> Dict:
    """Train ``task`` once and fingerprint what it computed."""
    from mmengine.runner import Runner
    os.makedirs(work_dir, exist_ok=True)
    cfg = task_config(task, data, work_dir)
    cfg.experiment_name = f'fingerprint_{task}'
    save_random_teacher(cfg)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    model = runner.train()
    hub = runner.message_hub
    scalars = {}
    for name, buffer in sorted(hub.log_scalars.items()):
        if name.endswith('time') or 'eta' in name or 'memory' in name:
            continue  # wall-clock quantities
        values, counts = buffer.data
        scalars[name] = [[float(v) for v in values], [int(c) for c in counts]]
    # what the visualizer wrote, the search passes' means included
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        for line_no, line in enumerate(f):
            for key, value in json.loads(line).items():
                if not key.endswith('time') and 'eta' not in key and 'memory' not in key:
                    scalars[f'vis/{line_no}/{key}'] = [[value], [1]]
    return dict(tensors=flat_digests(model.state_dict(), 'model') |
                flat_digests(runner.optim_wrapper.state_dict(), 'optim'),
                scalars=scalars)


def make_data(tasks, root: str) -> Dict[str, str]:
    """Fashion-MNIST (cls) and the generated scenes (det, seg) under ``root``."""
    import subprocess
    fmnist = osp.join(root, 'fashion-mnist')
    if not osp.isdir(fmnist):
        subprocess.run([sys.executable, osp.join(ROOT, 'tools/data/prepare_fashion_mnist.py'),
                        '--out', fmnist], check=True)
    data = {task: fmnist for task in TASKS if task.startswith('cls')}
    scenes = osp.join(root, 'scenes')
    if {'det', 'seg'} & set(tasks) and not osp.isdir(scenes):
        subprocess.run([sys.executable, osp.join(ROOT, 'tools/data/make_scenes.py'), '--out',
                        scenes, '--fmnist-dir', fmnist, '--num-train', '8', '--num-val', '4',
                        '--size', '96'], check=True)
    data.update({task: scenes for task in TASKS if not task.startswith('cls')})
    return data


def compare(now: Dict, reference: Dict) -> List[str]:
    """Differences between two fingerprints, as lines."""
    lines = []
    for task in sorted(set(now) | set(reference)):
        if task not in now or task not in reference:
            lines.append(f'{task}: only in one fingerprint')
            continue
        for part in ('tensors', 'scalars'):
            a, b = now[task][part], reference[task][part]
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    lines.append(f'{task} {part} {key}: differs' if key in a and key in b
                                 else f'{task} {part} {key}: only in '
                                 f'{"this run" if key in a else "the reference"}')
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='fingerprint JSON to write')
    parser.add_argument('--compare', help='a reference fingerprint JSON')
    parser.add_argument('--tasks', nargs='+', choices=TASKS, default=list(TASKS))
    parser.add_argument('--data', default='work_dirs/fingerprint_data',
                        help='where the data are made once and reused')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = make_data(args.tasks, osp.abspath(args.data))
    prints = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            prints[task] = fingerprint_task(task, data[task], osp.join(tmp, task))
            print(f'{task}: {len(prints[task]["tensors"])} tensors, '
                  f'{sum(len(v[0]) for v in prints[task]["scalars"].values())} logged values',
                  flush=True)
    with open(args.out, 'w') as f:
        json.dump(prints, f, indent=1, sort_keys=True)
    if args.compare:
        with open(args.compare) as f:
            reference = json.load(f)
        differences = compare(prints, {t: reference[t] for t in args.tasks if t in reference})
        if differences:
            print('\n'.join(differences[:20]))
            print(f'error: {len(differences)} differences from {args.compare}')
            return 1
        print(f'identical to {args.compare}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
