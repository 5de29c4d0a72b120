"""The same config gives the same result whatever the launcher: gradients synced over ranks."""
import os
import os.path as osp
import sys

import torch
from tst_testing import ROOT, free_port, run_ranks


def _run(world: int, data_root: str, out_dir) -> None:
    port = str(free_port())
    run_ranks(lambda rank: [sys.executable, osp.join(ROOT, 'tests/grad_sync_worker.py'),
                            str(rank), str(world), port, data_root, str(out_dir)],
              lambda rank: dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT), cwd=ROOT,
              world_size=world, timeout=300)


def test_two_ranks_on_the_same_data_end_as_one_process(fashion_mnist_root, tmp_path):
    """A parameter no rank computes a gradient for (the student's unused last stage) is left
    out of the optimizer step, as in one process: no weight decay, no momentum. Before, only
    the distributed path zero-filled its gradient, so decay and momentum moved it there."""
    for world in (1, 2):
        _run(world, fashion_mnist_root, tmp_path)
    one, *ranks = (torch.load(tmp_path / name, weights_only=False) for name in
                   ('world1_rank0.pth', 'world2_rank0.pth', 'world2_rank1.pth'))
    unused = [key for key in one['state'] if key.startswith('student.backbone.layer4.')
              and key.endswith('weight')]
    assert unused
    for two in ranks:
        assert two['state'].keys() == one['state'].keys()
        for key in one['state']:  # bit for bit: the same batch on both ranks
            assert torch.equal(two['state'][key], one['state'][key]), key
        for part in ('student', 'augmenter'):
            expected, got = one['optim'][part]['state'], two['optim'][part]['state']
            assert got.keys() == expected.keys(), part  # no momentum for unused parameters
            for index in expected:
                assert torch.equal(got[index]['momentum_buffer'],
                                   expected[index]['momentum_buffer']), (part, index)
    student_params = len(one['optim']['student']['param_groups'][0]['params'])
    assert len(one['optim']['student']['state']) < student_params  # some had no gradient
