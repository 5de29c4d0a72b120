"""TST configs through the toolboxes' own training script (what ``mim train`` runs): mmpretrain's
installed ``tools/train.py``, on one process and on two gloo processes.

mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device``, so a stock script
cannot start a CPU process group itself; the two-process test starts the gloo group first (as
``tools/train.py`` of this repo does on CPU) and then runs the stock script unchanged. Everything
else (wrapping the distiller, TST's two optimizers under DDP) comes from the config's
``model_wrapper_cfg``.
"""
import os
import os.path as osp
import sys

import pytest
import torch
from tst_testing import ROOT, free_port, run_ranks, run_tool

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')

#: starts the gloo group a CPU machine needs, then runs the stock script as ``__main__``
SHIM = '''import os, runpy, sys
import torch.distributed as dist
dist.init_process_group('gloo')
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def _stock_train_script() -> str:
    import mmpretrain
    path = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(path), 'mmpretrain ships its tools/train.py in .mim/tools'
    return path


def _options(data_root, teacher_ckpt):
    return [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')] + [
        f'model.teacher_ckpt={teacher_ckpt}', 'train_dataloader.dataset.indices=128',
        'train_dataloader.batch_size=32', 'val_dataloader.dataset.indices=64',
        'train_cfg.max_epochs=1', 'train_cfg.search_epochs=[0]',
        'param_scheduler.student.0.end=1']


@pytest.mark.slow
def test_stock_mmpretrain_train_script_runs_a_tst_config(fashion_mnist_root,
                                                        fashion_teacher_ckpt, tmp_path):
    proc = run_tool(_stock_train_script(), TST_CONFIG, '--work-dir', str(tmp_path),
                    '--no-persistent-workers', '--cfg-options',
                    *_options(fashion_mnist_root, fashion_teacher_ckpt), cwd=str(tmp_path))
    assert 'TST search phase before epoch 1' in proc.stdout + proc.stderr
    state = torch.load(tmp_path / 'epoch_1.pth')['state_dict']
    assert not torch.equal(state['augmenter.probability_logits'],
                           torch.zeros_like(state['augmenter.probability_logits']))


@pytest.mark.slow
def test_stock_train_script_on_two_gloo_processes(fashion_mnist_root, fashion_teacher_ckpt,
                                                  tmp_path):
    shim = tmp_path / 'gloo_first.py'
    shim.write_text(SHIM)
    config = tmp_path / 'tst_with_rank_states.py'
    config.write_text(f"_base_ = ['{TST_CONFIG}']\n"
                      "custom_imports = dict(imports=['tst_mm', 'tst_testing_hooks'], "
                      "allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='SaveRankStateHook')]\n")
    port = str(free_port())
    run_ranks(lambda rank: [
        sys.executable, str(shim), _stock_train_script(), str(config), '--launcher', 'pytorch',
        '--work-dir', str(tmp_path / 'work'), '--no-persistent-workers', '--cfg-options',
        *_options(fashion_mnist_root, fashion_teacher_ckpt)],
        lambda rank: dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1',
                          MASTER_PORT=port, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                          PYTHONPATH=f'{ROOT}{os.pathsep}{ROOT}/tests'),
        cwd=str(tmp_path))
    wrappers = {(tmp_path / 'work' / f'rank_{rank}_wrapper.txt').read_text() for rank in (0, 1)}
    assert wrappers == {'TSTDistributedWrapper'}  # from the config's model_wrapper_cfg
    rank0, rank1 = (torch.load(tmp_path / 'work' / f'rank_{rank}.pth') for rank in (0, 1))
    for key in rank0:  # the student and the policy are the same on both ranks
        if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')):
            assert torch.equal(rank0[key], rank1[key]), key
