"""TST under torch.distributed: two CPU processes on gloo, through tools/dist_train.sh."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from tst_testing import ROOT

TST_CONFIG = 'configs/demo/tst_fashion-mnist.py'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_end_with_identical_student_and_policy(
        fashion_mnist_root, fashion_teacher_ckpt, tmp_path):
    options = [f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
               for split in ('train', 'val', 'test')] + [
        f'model.teacher_ckpt={fashion_teacher_ckpt}', f'model.teacher={ROOT}/'
        'configs/demo/resnet18-tiny_fashion-mnist.py',
        'train_dataloader.dataset.indices=256', 'train_dataloader.batch_size=32',
        'val_dataloader.dataset.indices=64', 'test_dataloader.dataset.indices=64',
        'train_cfg.max_epochs=2', 'train_cfg.search_epochs=[1]', 'train_cfg.search_passes=1',
        'param_scheduler.student.0.end=2']
    config = tmp_path / 'tst_with_rank_states.py'
    config.write_text(f"_base_ = ['{ROOT}/{TST_CONFIG}']\n"
                      "custom_imports = dict(imports=['tst_mm', 'tst_testing_hooks'], "
                      "allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='SaveRankStateHook')]\n")
    env = dict(os.environ, PORT=str(_free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=f'{ROOT}{os.pathsep}{ROOT}/tests',
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    proc = subprocess.run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir',
                           str(tmp_path), '--cfg-options', *options], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert 'TST search' in out
    rank0 = torch.load(tmp_path / 'rank_0.pth')
    rank1 = torch.load(tmp_path / 'rank_1.pth')
    assert rank0.keys() == rank1.keys()
    # BN running statistics are per rank (each sees its own data; mmengine's default
    # broadcast_buffers=False), everything learned must be identical
    statistics = ('running_mean', 'running_var', 'num_batches_tracked')
    learned = [key for key in rank0 if not key.endswith(statistics)]
    assert any(key.startswith('augmenter.') for key in learned)
    for key in learned:
        torch.testing.assert_close(rank0[key], rank1[key], msg=f'{key} differs across ranks')
    initial = torch.zeros_like(rank0['augmenter.probability_logits'])
    assert not torch.equal(rank0['augmenter.probability_logits'], initial)  # search ran
