"""Helpers shared by the test modules (on sys.path through ``pythonpath = tests``)."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys
import tarfile
from types import ModuleType
from typing import Callable, List

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

__all__ = ['ROOT', 'load_script', 'run_tool', 'run_tool_expecting_failure', 'fashion_runner_cfg',
           'scenes_batch', 'free_port', 'run_ranks', 'check_exported_student', 'extract_members']


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='2')


def run_tool(*args: str, timeout: int = 900, cwd: str = ROOT) -> subprocess.CompletedProcess:
    """Run a python tool of the repo in a fresh process; fail the test with its output."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                    f'{proc.stderr[-6000:]}')
    return proc


def run_tool_expecting_failure(*args: str, timeout: int = 300) -> str:
    """Run a tool that must fail; return the last line of its stderr."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode != 0, f'{args} succeeded but should have failed'
    return proc.stderr.strip().splitlines()[-1]


def extract_members(tar: tarfile.TarFile, dest: str, members: List[tarfile.TarInfo]) -> None:
    """Extract ``members`` of ``tar`` into ``dest``, refusing any that would land outside it.

    ``extractall(filter='data')`` where Python has extraction filters (3.12, and 3.11 from
    3.11.4); on an older 3.11 (Debian 12 ships 3.11.2) the same refusals done here: only
    regular files and folders, no absolute paths, no ``..``. Without either, ``extractall``
    would write wherever a member's name points.

    Raises:
        ValueError: Naming the first member refused.
    """
    if hasattr(tarfile, 'data_filter'):
        tar.extractall(dest, members=members, filter='data')
        return
    root = osp.realpath(dest)
    for member in members:
        target = osp.realpath(osp.join(root, member.name))
        if not (member.isfile() or member.isdir()) or osp.isabs(member.name) \
                or '..' in member.name.replace('\\', '/').split('/') \
                or osp.commonpath([root, target]) != root:
            raise ValueError(f'refusing to extract {member.name!r} from {tar.name}: only regular '
                             'files and folders inside the destination are extracted')
    tar.extractall(dest, members=members)


def fashion_runner_cfg(config: str, teacher_ckpt: str, data_root: str, work_dir, name: str):
    """A Fashion-MNIST TST config at toy size for a real Runner: 192 training images in
    batches of 64, 64 validation images, its teacher path absolute, a unique experiment name.

    Args:
        config: The TST config, relative to the repo.
        teacher_ckpt: The teacher checkpoint.
        data_root: The prepared Fashion-MNIST folder.
        work_dir: The Runner's work dir.
        name: Prefix of the experiment name.
    """
    import uuid

    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = teacher_ckpt
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'{name}_{uuid.uuid4().hex[:8]}'
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.train_dataloader.dataset.indices = 192
    cfg.train_dataloader.batch_size = 64
    cfg.val_dataloader.dataset.indices = 64
    return cfg


def scenes_batch(demo_config: str, scenes_root: str, num: int, image_size=None) -> dict:
    """The first ``num`` training samples of a scenes demo config's dataset, collated.

    Args:
        demo_config: A ``configs/demo/*_scenes.py`` config, relative to the repo: its
            ``default_scope`` and train dataset (pipeline included) are used.
        scenes_root: The folder written by ``tools/data/make_scenes.py`` (``coco/`` and
            ``cityscapes/`` inside): the dataset's folder of that name is taken from it.
        num: Samples in the batch.
        image_size: ``(w, h)`` replacing the scale of the pipeline's resize steps, if given.
    """
    import copy

    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from tst_mm.registry import DATASETS
    cfg = Config.fromfile(osp.join(ROOT, demo_config))
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset.data_root = osp.join(scenes_root, osp.basename(dataset.data_root.rstrip('/'))) + '/'
    for transform in dataset.pipeline if image_size else []:
        if transform.type in ('Resize', 'RandomResize'):
            transform.scale = image_size
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(dataset)
        return pseudo_collate([dataset[i] for i in range(num)])


def load_script(path: str) -> ModuleType:
    """Import a script of the repo that is not in a package (``tools/x.py``) as a module."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port free on this machine right now (for a gloo process group)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_ranks(command: Callable[[int], List[str]], env: Callable[[int], dict], cwd: str,
              world_size: int = 2, timeout: int = 900) -> List[str]:
    """Run one process per rank to the end; fail the test with the output of any that failed.

    Args:
        command: The argv of a rank.
        env: The environment of a rank.
        cwd: Working directory of all ranks.
        world_size: Number of ranks.
        timeout: Seconds before all are killed (a hang fails the test instead of blocking it).

    Returns:
        Each rank's output (stdout and stderr).
    """
    procs = [subprocess.Popen(command(rank), cwd=cwd, env=env(rank), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for rank in range(world_size)]
    try:
        outputs = [proc.communicate(timeout=timeout)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for rank, (proc, out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f'rank {rank} failed:\n{out[-5000:]}'
    return outputs


def _prediction_tensors(samples: list) -> List[dict]:
    """The tensors of each predicted data sample (boxes, scores, labels, masks, label maps,
    logits), by ``field.key``."""
    out = []
    for sample in samples:
        tensors = {}
        for field in ('pred_instances', 'pred_sem_seg', 'seg_logits'):
            if field in sample:
                tensors.update({f'{field}.{key}': value for key, value in sample.get(field).items()
                                if hasattr(value, 'shape')})
        out.append(tensors)
    return out


def check_exported_student(tst_work_dir: str, tst_checkpoint: str, plain_config: str,
                           exported: str, tmp_path, num: int = 2) -> None:
    """Check that the exported student loads strictly into a stock model built from its plain
    config, in a process that never imports tst_mm, and predicts exactly what the distilled
    student predicts on the same test images.

    Args:
        tst_work_dir: The TST run's work dir (its config dump, as trained, is read there).
        tst_checkpoint: The TST checkpoint that was exported.
        plain_config: The student's plain config written by ``tools/export_student.py``.
        exported: The exported checkpoint.
        tmp_path: A folder for the batch and the stock model's predictions.
        num: Test images in the batch.
    """
    import glob

    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from tst_mm.registry import DATASETS, MODELS
    (dumped, ) = [path for path in glob.glob(osp.join(tst_work_dir, '*.py'))
                  if 'TSTDistiller' in open(path).read()]
    tst_cfg, plain_cfg = Config.fromfile(dumped), Config.fromfile(plain_config)
    with DefaultScope.overwrite_default_scope(tst_cfg.default_scope):
        dataset = DATASETS.build(plain_cfg.test_dataloader.dataset)
        batch = pseudo_collate([dataset[i] for i in range(num)])
        distiller = MODELS.build(tst_cfg.model)
        distiller.load_state_dict(torch.load(tst_checkpoint)['state_dict'], strict=True)
        distiller.eval()
        with torch.no_grad():
            expected = distiller.test_step(batch)
    torch.save(batch, osp.join(tmp_path, 'batch.pth'))
    script = osp.join(tmp_path, 'stock_predict.py')
    predicted = osp.join(tmp_path, 'stock_predictions.pth')
    with open(script, 'w') as f:
        f.write(
            'import sys\n'
            'import torch\n'
            'from mmengine.config import Config\n'
            'from mmengine.registry import MODELS, init_default_scope\n'
            f'cfg = Config.fromfile({plain_config!r})\n'
            'init_default_scope(cfg.default_scope)\n'
            f'torch.set_num_threads({torch.get_num_threads()})  # as here: the same sums\n'
            'model = MODELS.build(cfg.model).eval()\n'
            f'model.load_state_dict(torch.load({exported!r})["state_dict"], strict=True)\n'
            f'batch = torch.load({osp.join(tmp_path, "batch.pth")!r}, weights_only=False)\n'
            'with torch.no_grad():\n'
            '    predictions = model.test_step(batch)\n'
            "assert not any(name.startswith('tst_mm') for name in sys.modules), 'tst_mm'\n"
            f'torch.save(predictions, {predicted!r})\n')
    run_tool(script, cwd=str(tmp_path))
    got = _prediction_tensors(torch.load(predicted, weights_only=False))
    want = _prediction_tensors(expected)
    assert [sorted(g) for g in got] == [sorted(w) for w in want] and all(want)
    for g, w in zip(got, want):
        for key in w:
            assert torch.equal(g[key], w[key]), (key, (g[key].double() - w[key]).abs().max())


def sgd_optim_wrappers(model, augmenter_lr: float, student_lr: float = 0.1):
    """The ``OptimWrapperDict`` of a TST distiller: plain SGD for student and augmenter."""
    from tst_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS
    return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(student=dict(optimizer=dict(type='SGD', lr=student_lr)),
                               augmenter=dict(optimizer=dict(type='SGD', lr=augmenter_lr)))))(
                                   model)


def fashion_samples(data_root: str, num: int) -> list:
    """The first ``num`` Fashion-MNIST training samples, packed (no augmentation)."""
    from tst_mm.registry import DATASETS
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=data_root, split='train',
                                  download=False, pipeline=[dict(type='PackInputs')],
                                  indices=num))
    return [dataset[i] for i in range(num)]
