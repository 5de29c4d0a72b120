"""Helpers shared by the test modules (on sys.path through ``pythonpath = tests``)."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys
from types import ModuleType
from typing import Callable, List

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

__all__ = ['ROOT', 'load_script', 'run_tool', 'run_tool_expecting_failure', 'fashion_runner_cfg',
           'scenes_batch', 'free_port', 'run_ranks']


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
