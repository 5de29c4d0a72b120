"""tools/dist_train.sh and tools/dist_test.sh with two CPU processes (gloo)."""
import os
import os.path as osp
import socket
import subprocess

import pytest
import torch
from tst_testing import ROOT

import tst_mm  # noqa: F401  (allow-lists what runner checkpoints hold for torch.load)

CONFIG = 'configs/demo/resnet18-tiny_fashion-mnist.py'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _run(script, *args):
    env = dict(os.environ, PORT=str(_free_port()), OMP_NUM_THREADS='1',
               PATH=osp.dirname(os.sys.executable) + os.pathsep + os.environ['PATH'])
    proc = subprocess.run(['bash', script, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_two_process_train_then_test(fashion_mnist_root, tmp_path):
    options = [f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
               for split in ('train', 'val', 'test')] + [
        'train_dataloader.dataset.indices=256', 'train_dataloader.batch_size=64',
        'val_dataloader.dataset.indices=128', 'test_dataloader.dataset.indices=128',
        'train_cfg.max_epochs=1']
    out = _run('tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path),
               '--cfg-options', *options)
    assert 'Epoch(train) [1][2/2]' in out  # 256 images / (2 ranks x 64)
    checkpoint = tmp_path / 'epoch_1.pth'
    assert checkpoint.exists()
    state = torch.load(checkpoint)['state_dict']
    assert not any(key.startswith('module.') for key in state)
    out = _run('tools/dist_test.sh', CONFIG, str(checkpoint), '2', '--work-dir',
               str(tmp_path), '--cfg-options', *options)
    assert 'accuracy/top1' in out
