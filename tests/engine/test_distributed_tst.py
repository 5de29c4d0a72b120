"""TST under torch.distributed: two CPU processes on gloo, through tools/dist_train.sh, for
classification and detection; learned parameters must be identical on both ranks."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from tst_testing import ROOT, free_port

TST_CONFIG = 'configs/demo/tst_fashion-mnist.py'
DET_TST_CONFIG = 'configs/demo/tst_faster-rcnn_scenes.py'
DET_TEACHER = 'configs/demo/faster-rcnn_r18-tiny_scenes.py'


#: BN running statistics are per rank (each sees its own data; mmengine's default
#: broadcast_buffers=False); everything learned must be identical.
STATISTICS = ('running_mean', 'running_var', 'num_batches_tracked')


def _train_two_ranks(tst_config: str, options: list, tmp_path) -> str:
    """Train ``tst_config`` on 2 gloo ranks via tools/dist_train.sh; each rank saves its state."""
    config = tmp_path / 'tst_with_rank_states.py'
    config.write_text(f"_base_ = ['{ROOT}/{tst_config}']\n"
                      "custom_imports = dict(imports=['tst_mm', 'tst_testing_hooks'], "
                      "allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='SaveRankStateHook')]\n")
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=f'{ROOT}{os.pathsep}{ROOT}/tests',
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    proc = subprocess.run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir',
                           str(tmp_path), '--cfg-options', *options], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert 'TST search' in out
    return out


def _assert_ranks_learned_the_same(tmp_path) -> dict:
    """Compare the two ranks' learned tensors; return rank 0's state."""
    rank0 = torch.load(tmp_path / 'rank_0.pth')
    rank1 = torch.load(tmp_path / 'rank_1.pth')
    assert rank0.keys() == rank1.keys()
    learned = [key for key in rank0 if not key.endswith(STATISTICS)]
    assert any(key.startswith('augmenter.') for key in learned)
    assert any(key.startswith('student.') for key in learned)
    for key in learned:
        torch.testing.assert_close(rank0[key], rank1[key], msg=f'{key} differs across ranks')
    initial = torch.zeros_like(rank0['augmenter.probability_logits'])
    assert not torch.equal(rank0['augmenter.probability_logits'], initial)  # search ran
    return rank0


@pytest.mark.slow
def test_two_ranks_end_with_identical_student_and_policy(
        fashion_mnist_root, fashion_teacher_ckpt, tmp_path):
    options = [f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
               for split in ('train', 'val', 'test')] + [
        f'model.teacher_ckpt={fashion_teacher_ckpt}', f'model.teacher={ROOT}/'
        'configs/demo/resnet18-tiny_fashion-mnist.py',
        'train_dataloader.dataset.indices=256', 'train_dataloader.batch_size=32',
        'val_dataloader.dataset.indices=64', 'test_dataloader.dataset.indices=64',
        'train_cfg.max_epochs=2', 'train_cfg.search_epochs=[1]', 'train_cfg.search_passes=3',
        'param_scheduler.student.0.end=2']
    # 3 passes: the plateau rule decides on pass means, which the ranks must share
    _train_two_ranks(TST_CONFIG, options, tmp_path)
    _assert_ranks_learned_the_same(tmp_path)


@pytest.mark.slow
def test_two_ranks_detection_end_with_identical_student_and_policy(scenes_root, tmp_path):
    """Faster R-CNN TST demo on the scenes: search, distil, search, distil on 2 gloo ranks
    (8 images, batch 2 per rank: 2 steps per pass/epoch). The teacher is the stock demo
    detector with random weights: what is compared is the synchronisation, not accuracy."""
    coco = osp.join(scenes_root, 'coco') + '/'
    ann = coco + 'annotations/instances_val.json'
    options = [f'{split}_dataloader.dataset.data_root={coco}'
               for split in ('train', 'val', 'test')] + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'model.teacher_ckpt=None', 'model.allow_random_teacher=True',
        f'model.teacher={ROOT}/{DET_TEACHER}',
        'train_dataloader.dataset.indices=8', 'train_dataloader.batch_size=2',
        'train_cfg.max_epochs=2', 'train_cfg.search_epochs=[0,1]', 'train_cfg.val_begin=3',
        'default_hooks.logger.interval=1']
    out = _train_two_ranks(DET_TST_CONFIG, options, tmp_path)
    assert 'Epoch(train) [2][2/2]' in out  # 8 images / (2 ranks x 2)
    assert 'TST search phase before epoch 1' in out and 'TST search phase before epoch 2' in out
    state = _assert_ranks_learned_the_same(tmp_path)
    assert any(key.startswith('student.roi_head.') for key in state)
