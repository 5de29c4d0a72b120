"""Inverted mmdet losses of the detection search step, against hand-written formulas."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import CrossEntropyLoss, FocalLoss, GIoULoss, L1Loss, SmoothL1Loss
from mmengine.registry import DefaultScope, init_default_scope
from torch import nn

import tst_mm  # noqa: F401
from tst_mm.distill.task_adapters import InvertedDetectionLosses
from tst_mm.losses import StudentWeaknessLoss


@pytest.fixture(autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')
    DefaultScope.overwrite_default_scope('mmdet').__enter__()
    yield


class Head(nn.Module):
    """A parent with ``num_classes`` and one loss module, like an mmdet head."""

    def __init__(self, loss: nn.Module, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.loss_cls = loss


def inverted(loss, **kwargs):
    head = Head(loss)
    ctx = InvertedDetectionLosses(**kwargs).swapped(head)
    ctx.__enter__()
    return head.loss_cls, ctx


def test_softmax_ce_becomes_weakness_over_positives():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=gen, requires_grad=True)  # 3 classes + background
    labels = torch.tensor([0, 2, 3, 1, 3, 3])  # 3 = background
    weights = torch.tensor([1.0, 0.5, 1.0, 1.0, 1.0, 0.0])
    loss, _ = inverted(CrossEntropyLoss(loss_weight=2.0))
    value = loss(logits, labels, weights, avg_factor=6)
    p = logits.softmax(-1)[torch.arange(6), labels]
    pos = labels < 3
    expected = 2.0 * (-(torch.log1p(-p[pos] + 0.0)) * weights[pos]).sum() / pos.sum()
    torch.testing.assert_close(value, expected, rtol=1e-4, atol=1e-5)
    value.backward()
    # descending lowers the true-class logits of positives and leaves background rows alone
    assert (logits.grad[torch.arange(6)[pos], labels[pos]] > 0).all()
    assert (logits.grad[~pos] == 0).all()
    loss_all, _ = inverted(CrossEntropyLoss(), targets='all')
    expected_all = StudentWeaknessLoss()(logits, labels, weight=weights,
                                         avg_factor=torch.tensor(6.0))
    torch.testing.assert_close(loss_all(logits, labels, weights), expected_all)


def test_sigmoid_ce_class_indices_flip_targets():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 1, generator=gen)  # RPN: one class, label 1 = background
    labels = torch.tensor([0, 1, 0, 1, 1])
    weights = torch.ones(5)
    loss, _ = inverted(CrossEntropyLoss(use_sigmoid=True), targets='all')
    target = 1.0 - F.one_hot(labels, 2)[:, :1].float()
    expected = F.binary_cross_entropy_with_logits(logits, target, reduction='sum') / 4
    torch.testing.assert_close(loss(logits, labels, weights, avg_factor=4), expected)
    loss_pos, _ = inverted(CrossEntropyLoss(use_sigmoid=True))
    pos = labels == 0
    expected = -F.logsigmoid(-logits[pos]).sum() / 4  # -log(1 - sigmoid) on positives
    torch.testing.assert_close(loss_pos(logits, labels, weights, avg_factor=4), expected)


def test_sigmoid_ce_soft_targets_flip():
    logits = torch.tensor([0.3, -1.0, 2.0])
    target = torch.tensor([0.9, 0.2, 0.6])  # e.g. FCOS centerness
    loss, _ = inverted(CrossEntropyLoss(use_sigmoid=True), targets='all')
    expected = F.binary_cross_entropy_with_logits(logits, 1 - target)
    torch.testing.assert_close(loss(logits, target), expected)


@pytest.mark.parametrize('targets', ['positives', 'all'])
def test_focal_on_flipped_targets(targets):
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(8, 3, generator=gen)
    labels = torch.tensor([0, 3, 2, 3, 1, 3, 3, 0])  # 3 = background
    focal = FocalLoss(gamma=2.0, alpha=0.25)
    loss, _ = inverted(focal, targets=targets)
    onehot = F.one_hot(labels, 4)[:, :3].float()
    p = logits.sigmoid()
    if targets == 'all':
        t = 1 - onehot
        weight = torch.ones_like(t)
    else:
        t = torch.zeros_like(onehot)
        weight = onehot
    pt = (1 - p) * t + p * (1 - t)
    elementwise = F.binary_cross_entropy_with_logits(logits, t, reduction='none') * (
        0.25 * t + 0.75 * (1 - t)) * pt.pow(2)
    expected = (elementwise * weight).sum() / 3
    torch.testing.assert_close(loss(logits, labels, avg_factor=3), expected)


def test_mask_ce_flips_mask_targets():
    gen = torch.Generator().manual_seed(3)
    pred = torch.randn(2, 3, 4, 4, generator=gen)
    target = (torch.rand(2, 4, 4, generator=gen) > 0.5).float()
    label = torch.tensor([1, 2])
    loss, _ = inverted(CrossEntropyLoss(use_mask=True))
    expected = F.binary_cross_entropy_with_logits(pred[torch.arange(2), label], 1 - target)
    torch.testing.assert_close(loss(pred, target, label), expected[None])


@pytest.mark.parametrize('regression', ['reciprocal', 'clamp', 'negate'])
@pytest.mark.parametrize('loss_type', [L1Loss, SmoothL1Loss, GIoULoss])
def test_regression_is_negated_and_bounded(regression, loss_type):
    pred = torch.tensor([[0., 0., 10., 10.], [5., 5., 9., 12.]])
    target = torch.tensor([[1., 2., 12., 9.], [20., 20., 40., 40.]])
    original = loss_type()(pred, target)
    loss, _ = inverted(loss_type(), regression=regression, regression_cap=1.5)
    value = loss(pred, target)
    expected = {'reciprocal': 1 / (1 + original), 'clamp': -original.clamp(max=1.5),
                'negate': -original}[regression]
    torch.testing.assert_close(value, expected)


def test_unsupported_loss_is_named():
    from mmdet.models.losses import GHMC
    head = Head(GHMC())
    with pytest.raises(TypeError, match=r'loss_cls is a GHMC'):
        with InvertedDetectionLosses().swapped(head):
            pass
    assert isinstance(head.loss_cls, GHMC)


def test_ohem_style_reduction_is_refused():
    loss, _ = inverted(CrossEntropyLoss())
    with pytest.raises(NotImplementedError, match="reduction='mean'"):
        loss(torch.randn(3, 4), torch.tensor([0, 1, 3]), reduction_override='none')


def test_bad_options():
    with pytest.raises(ValueError, match='targets'):
        InvertedDetectionLosses(targets='some')
    with pytest.raises(ValueError, match='regression'):
        InvertedDetectionLosses(regression='square')
