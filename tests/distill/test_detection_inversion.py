"""Inverted mmdet losses of the detection search step, against hand-written formulas."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import (
    GHMC,
    CrossEntropyLoss,
    DiceLoss,
    DistributionFocalLoss,
    FocalLoss,
    GIoULoss,
    L1Loss,
    QualityFocalLoss,
    SmoothL1Loss,
    VarifocalLoss,
)
from mmengine.registry import DefaultScope, init_default_scope
from torch import nn

import tst_mm  # noqa: F401
from tst_mm.losses import InvertedDetectionLosses, StudentWeaknessLoss
from tst_mm.losses import inverted_detection_losses as detection_inversion
from tst_mm.losses.inverted_detection_losses import inversion_kind, register_inversion


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


def inverted(loss, num_classes=3, **kwargs):
    head = Head(loss, num_classes)
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


# ---------------------------------------------------------------------------- flagship losses
def qfl_entries(logits, target, beta, activated=False):
    """QualityFocalLoss per entry, written out: BCE(x, t) * |t - p| ** beta."""
    prob = logits if activated else logits.sigmoid()
    bce = (F.binary_cross_entropy(logits, target, reduction='none') if activated else
           F.binary_cross_entropy_with_logits(logits, target, reduction='none'))
    return bce * (target - prob).abs().pow(beta)


@pytest.mark.parametrize('target_form', ['labels_and_scores', 'per_entry'])
def test_quality_focal_pushes_the_positives_quality_down(target_form):
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(6, 3, generator=gen, requires_grad=True)
    labels = torch.tensor([0, 3, 2, 3, 1, 3])  # 3 = background
    scores = torch.tensor([0.8, 0.0, 0.4, 0.0, 0.9, 0.0])
    weights = torch.tensor([1.0, 1.0, 0.5, 1.0, 1.0, 0.0])
    onehot = F.one_hot(labels, 4)[:, :3].float()
    target = (labels, scores) if target_form == 'labels_and_scores' else onehot * scores[:, None]
    loss, _ = inverted(QualityFocalLoss(beta=2.0, loss_weight=1.5))
    value = loss(logits, target, weights, avg_factor=2.0)
    # positives' true-class entries with the quality target 0: -log(1 - p) * p ** beta
    entries = qfl_entries(logits, torch.zeros_like(logits), 2.0) * onehot
    expected = 1.5 * (entries.sum(1) * weights).sum() / 2.0
    torch.testing.assert_close(value, expected)
    value.backward()
    assert (logits.grad[onehot.bool() & (weights[:, None] > 0)] > 0).all()  # descent lowers them
    assert (logits.grad[~onehot.bool()] == 0).all()

    loss_all, _ = inverted(QualityFocalLoss(beta=2.0), targets='all')
    flipped = 1 - onehot * scores[:, None]
    expected = (qfl_entries(logits, flipped, 2.0).sum(1) * weights).sum() / 2.0
    torch.testing.assert_close(loss_all(logits, target, weights, avg_factor=2.0), expected)


def test_quality_focal_on_probabilities():
    """TOOD feeds probabilities (``activated=True``)."""
    probs = torch.tensor([[0.2, 0.7], [0.5, 0.1], [0.9, 0.3]])
    labels, scores = torch.tensor([1, 2, 0]), torch.tensor([0.6, 0.0, 0.5])
    loss, _ = inverted(QualityFocalLoss(activated=True, beta=2.0), num_classes=2)
    onehot = F.one_hot(labels, 3)[:, :2].float()
    expected = (-torch.log1p(-probs) * probs.pow(2) * onehot).sum() / 2.0
    torch.testing.assert_close(loss(probs, (labels, scores), avg_factor=2.0), expected)


@pytest.mark.parametrize('targets', ['positives', 'all'])
def test_varifocal_zeroes_or_flips_iou_targets(targets):
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(5, 3, generator=gen)
    iou = torch.zeros(5, 3)
    iou[0, 1], iou[2, 0], iou[3, 2] = 0.7, 0.3, 0.9
    loss, _ = inverted(VarifocalLoss(alpha=0.75, gamma=2.0), targets=targets)
    prob = logits.sigmoid()
    if targets == 'positives':  # VFL's negative branch on the positive entries only
        t = torch.zeros_like(iou)
        entry = 0.75 * prob.pow(2) * F.binary_cross_entropy_with_logits(
            logits, t, reduction='none') * (iou > 0)
    else:
        t = 1 - iou
        weight = t * (t > 0) + 0.75 * (prob - t).abs().pow(2) * (t <= 0)
        entry = F.binary_cross_entropy_with_logits(logits, t, reduction='none') * weight
    torch.testing.assert_close(loss(logits, iou, avg_factor=3.0), entry.sum() / 3.0)


def test_distribution_focal_is_a_bounded_regression():
    gen = torch.Generator().manual_seed(6)
    pred = torch.randn(8, 17, generator=gen)  # reg_max 16
    target = torch.rand(8, generator=gen) * 15.9
    left = target.long()
    w_left, w_right = left + 1 - target, target - left
    dfl = (F.cross_entropy(pred, left, reduction='none') * w_left +
           F.cross_entropy(pred, left + 1, reduction='none') * w_right).mean() * 0.25
    loss, _ = inverted(DistributionFocalLoss(loss_weight=0.25))
    torch.testing.assert_close(loss(pred, target), 1 / (1 + dfl))


def test_dice_flips_mask_targets():
    """RTMDet-Ins: Dice on the complement of each mask."""
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(3, 6, 6, generator=gen)
    masks = (torch.rand(3, 6, 6, generator=gen) > 0.5).float()
    loss, _ = inverted(DiceLoss(loss_weight=2.0, eps=5e-6))
    p, t = logits.sigmoid().flatten(1), (1 - masks).flatten(1)
    dice = 1 - 2 * (p * t).sum(1) / ((p * p).sum(1) + 5e-6 + (t * t).sum(1) + 5e-6)
    torch.testing.assert_close(loss(logits, masks, weight=None, avg_factor=2),
                               2.0 * dice.sum() / 2)


@pytest.mark.parametrize('targets', ['positives', 'all'])
def test_yolox_objectness(targets):
    """YOLOX: sigmoid BCE on (N, 1) objectness targets, summed."""
    gen = torch.Generator().manual_seed(8)
    logits = torch.randn(7, 1, generator=gen)
    objectness = torch.tensor([[1.], [0.], [0.], [1.], [0.], [0.], [1.]])
    loss, _ = inverted(CrossEntropyLoss(use_sigmoid=True, reduction='sum'), targets=targets)
    if targets == 'positives':
        expected = -F.logsigmoid(-logits[objectness > 0]).sum()
    else:
        expected = F.binary_cross_entropy_with_logits(logits, 1 - objectness, reduction='sum')
    torch.testing.assert_close(loss(logits, objectness), expected)


def test_focal_on_probabilities():
    """TOOD's first epochs: FocalLoss(activated=True) on probabilities."""
    probs = torch.tensor([[0.2, 0.7, 0.4], [0.5, 0.1, 0.3], [0.9, 0.3, 0.6]])
    labels, weights = torch.tensor([1, 3, 0]), torch.tensor([1.0, 1.0, 0.5])
    loss, _ = inverted(FocalLoss(activated=True, gamma=2.0, alpha=0.25))
    onehot = F.one_hot(labels, 4)[:, :3].float()
    entry = 0.75 * probs.pow(2) * -torch.log1p(-probs) * onehot * weights[:, None]
    torch.testing.assert_close(loss(probs, labels, weights, avg_factor=2.0), entry.sum() / 2.0)


def test_inversion_is_chosen_by_class_and_can_be_registered(monkeypatch):
    # a fresh table, as in a process that registers its own loss before any search step
    monkeypatch.setattr(detection_inversion, '_INVERSIONS', {})
    monkeypatch.setattr(detection_inversion, '_MMDET_REGISTERED', False)

    class MyGHMC(GHMC):
        pass

    with pytest.raises(ValueError, match='kind must be one of'):
        register_inversion(MyGHMC, 'upside_down')
    register_inversion(MyGHMC, 'sigmoid_ce')
    register_inversion(SmoothL1Loss, 'sigmoid_ce')  # a registration beats mmdet's default

    class MyGIoU(GIoULoss):
        pass

    assert inversion_kind(MyGHMC()) == 'sigmoid_ce'
    assert inversion_kind(GHMC()) is None
    assert inversion_kind(SmoothL1Loss()) == 'sigmoid_ce'
    assert inversion_kind(QualityFocalLoss()) == 'quality_focal'  # the defaults came too
    assert inversion_kind(CrossEntropyLoss(use_mask=True)) == 'mask'
    assert inversion_kind(MyGIoU()) == 'regression'  # subclasses follow their base


def test_every_loss_word_module_is_swapped_and_reads_through():
    """TOOD's ``initial_loss_cls`` is a loss module too; heads may read the loss's
    attributes (``use_sigmoid``) during the loss."""
    head = Head(FocalLoss(activated=True))
    head.initial_loss_cls = FocalLoss(activated=True)
    with InvertedDetectionLosses().swapped(head) as swapped:
        assert set(swapped) == {'Head.loss_cls', 'Head.initial_loss_cls'}
        assert head.initial_loss_cls.use_sigmoid and head.loss_cls.gamma == 2.0
    assert isinstance(head.initial_loss_cls, FocalLoss)
