"""``tools/run_fingerprint.py``: the same short training twice is bit-identical, and a changed
number is found."""
import copy
import json

import pytest
from tst_testing import load_script, run_tool


@pytest.mark.slow
def test_fingerprint_is_reproducible_and_finds_a_change(tmp_path, fashion_mnist_root):
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'fashion-mnist').symlink_to(fashion_mnist_root)
    first, second = tmp_path / 'first.json', tmp_path / 'second.json'
    run_tool('tools/run_fingerprint.py', '--tasks', 'cls', '--data', str(data), '--out',
             str(first))
    out = run_tool('tools/run_fingerprint.py', '--tasks', 'cls', '--data', str(data), '--out',
                   str(second), '--compare', str(first)).stdout
    assert f'identical to {first}' in out
    reference = json.loads(first.read_text())
    cls = reference['cls']
    assert len(cls['tensors']) > 200  # student, teacher, augmenter, both optimizers
    assert any(key.startswith('model.augmenter') for key in cls['tensors'])
    assert any(key.startswith('optim.augmenter') for key in cls['tensors'])
    assert any('augment.loss_weakness' in key for key in cls['scalars'])  # search passes

    tool = load_script('tools/run_fingerprint.py')
    moved = copy.deepcopy(reference)
    name = sorted(k for k in cls['tensors'] if k.startswith('model.augmenter'))[0]
    moved['cls']['tensors'][name] = '0' * 64
    moved['cls']['scalars']['train/loss'][0][-1] += 1e-12
    assert tool.compare(moved, reference) == [
        f'cls tensors {name}: differs', 'cls scalars train/loss: differs']
    assert tool.compare(reference, reference) == []
