"""The README's main job, shrunk: data, teacher, KD and TST students, table and policy PNG."""
import os.path as osp

import pytest
from tst_testing import run_tool


@pytest.mark.slow
def test_demo_end_to_end(fashion_mnist_root, tmp_path):
    proc = run_tool('tools/demo.py', '--work-dir', str(tmp_path), '--data-root',
                    fashion_mnist_root, '--teacher-epochs', '1', '--teacher-subset', '1024',
                    '--epochs', '2', '--subset', '256', '--val-subset', '256',
                    '--with-baseline')
    out = proc.stdout
    for row in ('| teacher |', '| student alone |', '| KD |', '| TST |'):
        assert row in out, out[-3000:]
    assert '| - |' not in out  # every row has a measured accuracy
    assert osp.getsize(tmp_path / 'tst_policy.png') > 10_000
    assert (tmp_path / 'results.md').read_text().count('|') > 10
    # a second run reuses the cached teacher and students instead of training again
    again = run_tool('tools/demo.py', '--work-dir', str(tmp_path), '--data-root',
                     fashion_mnist_root, '--teacher-epochs', '1', '--epochs', '2',
                     '--subset', '256', '--val-subset', '256')
    assert 'teacher: cached' in again.stdout and 'TST: cached' in again.stdout
