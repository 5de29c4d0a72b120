"""Shared fixtures: real data made once per test session by the project's own data tools."""
import pytest
from tst_testing import run_tool


@pytest.fixture(scope='session')
def fashion_mnist_root(tmp_path_factory) -> str:
    """Fashion-MNIST IDX files (Debian package, or the MNIST fallback) in a temp dir."""
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
