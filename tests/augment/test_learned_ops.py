"""Tests of op_impl='learned' (op-imitation networks) and tools/pretrain_ops.py."""
import importlib.util
import os
import sys

import pytest
import torch

from tst_mm.augment import LearnableAugmenter
from tst_mm.augment.learned_ops import LearnedOps, OpImitationNet

COLOUR_OPS = ['brightness', 'color', 'contrast', 'sharpness', 'posterize', 'solarize']
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_ckpt(path, channels=3, ops=COLOUR_OPS, width=4):
    torch.manual_seed(0)
    nets = LearnedOps({n: OpImitationNet(channels, width) for n in ops})
    torch.save({'channels': channels, 'width': width, 'ops': list(ops),
                'state_dict': nets.state_dict(), 'mse': {}}, path)
    return str(path)


def load_tool():
    spec = importlib.util.spec_from_file_location('pretrain_ops',
                                                  os.path.join(REPO, 'tools', 'pretrain_ops.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_checkpoint_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='tools/pretrain_ops.py --out'):
        LearnableAugmenter(op_impl='learned', learned_ops_ckpt=str(tmp_path / 'none.pth'))
    with pytest.raises(FileNotFoundError, match='pretrain_ops'):
        LearnableAugmenter(op_impl='learned')


def test_checkpoint_without_an_op_is_rejected(tmp_path):
    path = write_ckpt(tmp_path / 'partial.pth', ops=['brightness'])
    with pytest.raises(ValueError, match='contrast'):
        LearnableAugmenter(ops=['brightness', 'contrast'], op_impl='learned',
                           learned_ops_ckpt=path)


@pytest.mark.parametrize('mode', ['blend', 'compose'])
def test_learned_ops_forward_and_gradients(tmp_path, mode):
    path = write_ckpt(tmp_path / 'ops.pth')
    aug = LearnableAugmenter(num_ops=None, op_impl='learned', learned_ops_ckpt=path,
                             init_probability_logit=20.0, geometric_mode=mode)
    assert not any(p.requires_grad for p in aug.learned_ops.parameters())
    x = torch.rand(2, 3, 12, 12)
    out, _ = aug(x, None)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    (out * torch.randn_like(out)).sum().backward()
    assert (aug.magnitude_logits.grad.abs() > 0).all()
    trainable = [n for n, p in aug.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ['magnitude_logits', 'probability_logits']


def test_learned_ops_channel_mismatch(tmp_path):
    path = write_ckpt(tmp_path / 'rgb.pth', channels=3)
    aug = LearnableAugmenter(ops=['contrast'], num_ops=1, op_impl='learned',
                             learned_ops_ckpt=path)
    with pytest.raises(ValueError, match='--channels 1'):
        aug(torch.rand(1, 1, 8, 8), None)


def test_pretrain_tool_smoke(tmp_path, capsys):
    pytest.importorskip('skimage')
    tool = load_tool()
    out = tmp_path / 'ops.pth'
    status = tool.main(['--out', str(out), '--iters', '2', '--width', '4', '--crop', '16',
                        '--batch-size', '2', '--log-interval', '1', '--channels', '1',
                        '--ops', 'contrast', 'solarize', '--device', 'cpu'])
    assert status == 0
    log = capsys.readouterr().out
    assert 'iter 1/2' in log and 'final per-op MSE' in log and 'solarize' in log
    aug = LearnableAugmenter(ops=['contrast', 'solarize', 'rotate'], op_impl='learned',
                             learned_ops_ckpt=str(out))
    result, _ = aug(torch.rand(2, 1, 16, 16), None)
    assert result.shape == (2, 1, 16, 16)


def test_pretrain_tool_refuses_without_skimage(tmp_path, monkeypatch, capsys):
    tool = load_tool()
    monkeypatch.setitem(sys.modules, 'skimage', None)
    monkeypatch.setitem(sys.modules, 'skimage.data', None)
    assert tool.main(['--out', str(tmp_path / 'x.pth'), '--iters', '1']) == 1
    assert 'scikit-image' in capsys.readouterr().err
    assert not (tmp_path / 'x.pth').exists()
