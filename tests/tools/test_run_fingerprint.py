"""``tools/run_fingerprint.py``: the same short training twice is bit-identical, and a changed
number is found."""
import copy
import json

import mmengine.optim  # noqa: F401 (registers torch's optimizers)
import pytest
import torch
from mmengine.registry import OPTIMIZERS
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


def test_every_task_config_builds_what_its_variant_asks(tmp_path):
    """Each task's short-training config, with its variant's keys in place (the Adam policy
    optimizer replaces SGD's dict whole: a merged one keeps ``momentum`` and fails to build)."""
    tool = load_script('tools/run_fingerprint.py')
    for task in tool.TASKS:
        cfg = tool.task_config(task, str(tmp_path), str(tmp_path / task))
        wanted = tool.VARIANTS.get(task, {})
        optimizer = copy.deepcopy(cfg.optim_wrapper.augmenter.optimizer)
        if 'optim_wrapper.augmenter.optimizer' in wanted:
            assert optimizer == dict(type='Adam', lr=0.05), task
        for key in ('model.search_objective', 'model.augmenter.learn_x_prime_weight'):
            if key in wanted:
                node = cfg
                for part in key.split('.'):
                    node = node[part]
                assert node == wanted[key], (task, key)
        assert 'name' not in cfg.visualizer, task  # one visualizer per task, not per process
        built = OPTIMIZERS.build(dict(optimizer, params=[torch.nn.Parameter(torch.zeros(1))]))
        assert isinstance(built, torch.optim.Optimizer)
    assert tool.VARIANTS['det-lookahead']['optim_wrapper.augmenter.optimizer']['_delete_']
