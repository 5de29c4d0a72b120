"""Shared fixtures: real data made once per test session by the project's own data tools.

On a busy machine, ``TST_MM_TEST_FASHION_MNIST=DIR`` (data made by
``tools/data/prepare_fashion_mnist.py``) and ``TST_MM_TEST_TEACHER=CKPT`` (a checkpoint of
``configs/demo/resnet18-tiny_fashion-mnist.py``) reuse earlier ones instead; CI makes its own.
"""
import os

import pytest
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import run_tool


@pytest.fixture
def mmpretrain_scope():
    """mmpretrain as the default scope (modules run before may have left mmdet or mmseg)."""
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


@pytest.fixture(scope='session')
def fashion_mnist_root(tmp_path_factory) -> str:
    """Fashion-MNIST IDX files (Debian package, or the MNIST fallback) in a temp dir."""
    if os.environ.get('TST_MM_TEST_FASHION_MNIST'):
        return os.environ['TST_MM_TEST_FASHION_MNIST']
    out = str(tmp_path_factory.mktemp('fashion-mnist'))
    run_tool('tools/data/prepare_fashion_mnist.py', '--out', out)
    return out


@pytest.fixture(scope='session')
def scenes_root(tmp_path_factory, fashion_mnist_root) -> str:
    """Small COCO + Cityscapes-layout scenes (real glyphs on real photos) in a temp dir."""
    out = str(tmp_path_factory.mktemp('scenes'))
    run_tool('tools/data/make_scenes.py', '--out', out, '--fmnist-dir', fashion_mnist_root,
             '--num-train', '24', '--num-val', '8', '--size', '96')
    return out


@pytest.fixture(scope='session')
def fashion_teacher_ckpt(fashion_mnist_root, tmp_path_factory) -> str:
    """The demo teacher, trained here for one epoch on 2k real Fashion-MNIST images."""
    if os.environ.get('TST_MM_TEST_TEACHER'):
        return os.environ['TST_MM_TEST_TEACHER']
    work_dir = str(tmp_path_factory.mktemp('fashion_teacher'))
    options = [f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
               for split in ('train', 'val', 'test')]
    run_tool('tools/train.py', 'configs/demo/resnet18-tiny_fashion-mnist.py', '--work-dir',
             work_dir, '--cfg-options', *options, 'train_dataloader.dataset.indices=2048',
             'val_dataloader.dataset.indices=256', 'train_cfg.max_epochs=1')
    return f'{work_dir}/epoch_1.pth'
