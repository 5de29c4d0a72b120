"""Mixing ops (MixUp, CutMix) of the augmenter's pool, for classification.

A mixing op combines each image of the batch with a *partner*, another image of the same batch
chosen by a permutation drawn once per batch (:func:`draw_partners`; an image may be its own
partner, as in mmpretrain's batch augments). Every mixing op of one call shares that
permutation, so an augmented image holds pixels of at most two images. Each op returns, besides
the mixed images, the *partner share* of every image: the fraction of the image that is its
partner's (``1 - lambda`` of MixUp, the pasted area of CutMix). Only the op's probability is
learnt; the mixing ratio is drawn from ``Beta(alpha, alpha)`` each call.

The augmenter blends a mixing op like the other ops, ``x' = x + b (mix(x) - x)`` with the op's
gate ``b``, so the partner's share of ``x'`` is ``b * share``; it sums those over the drawn
mixing ops (clamped to ``[0, 1]``) and writes the mixed target (:func:`mix_scores`) as each
augmented sample's ``gt_score``, which mmpretrain's ``ClsHead`` loss takes instead of
``gt_label`` (soft cross-entropy). ``gt_label`` stays the label of the image mixed into (the
first of the pair): what the search objectives, the diagnostics, ``teacher_correct_only`` and
the per-sample selection scores compare with.

Labels that move with the pixels (boxes, instance masks, label maps) cannot be mixed this way:
detection and segmentation refuse these ops at build time.
"""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from .region import ValidRegion

__all__ = ['MIX', 'draw_partners', 'mixup', 'cutmix', 'mix_scores', 'match_soft_targets',
           'check_mixing_student']

#: Kind of the mixing ops in :mod:`tst_mm.augment.ops` (only their probability is learnt).
MIX = 'mix'


def draw_partners(batch: int, device: torch.device) -> Tensor:
    """The partner of each image: a random permutation of the batch (torch's CPU RNG).

    Args:
        batch: Images in the batch.
        device: Where the returned indices live.

    Returns:
        ``(B,)`` long tensor: image ``i`` is mixed with image ``partners[i]``.
    """
    return torch.randperm(batch).to(device)


def _beta(alpha: Tensor, num: int, like: Tensor) -> Tensor:
    """``num`` draws of ``Beta(alpha, alpha)`` in ``like``'s dtype and device."""
    concentration = alpha.detach().to(device=like.device, dtype=like.dtype).expand(num)
    return torch.distributions.Beta(concentration, concentration).sample()


def mixup(img: Tensor, partner: Tensor, value: Tensor,
          region: ValidRegion) -> Tuple[Tensor, Tensor]:
    """MixUp: ``lambda * img + (1 - lambda) * partner`` with ``lambda ~ Beta(alpha, alpha)``
    drawn per image.

    Args:
        img: ``(B, C, H, W)`` batch in ``[0, 1]``.
        partner: ``(B, C, H, W)`` the partner of each image.
        value: ``alpha`` of the Beta distribution (0-dim).
        region: The batch's valid region (unused: the whole arrays are blended; the
            augmenter restores padding afterwards).

    Returns:
        The mixed batch and the ``(B,)`` partner shares ``1 - lambda``.
    """
    share = _beta(value, img.shape[0], img)  # Beta(a, a) is symmetric: 1 - lambda ~ lambda
    return img + share.view(-1, 1, 1, 1) * (partner - img), share


def cutmix(img: Tensor, partner: Tensor, value: Tensor,
           region: ValidRegion) -> Tuple[Tensor, Tensor]:
    """CutMix: paste a box of the partner into each image.

    The box has the aspect ratio of the image's valid region and a target area of
    ``1 - lambda`` of it (``lambda ~ Beta(alpha, alpha)``, drawn per image); its centre is
    uniform in the valid region and it is clipped to it, so the share is the area actually
    pasted: the pixels (by their centres) inside the clipped box over the valid pixels.

    Args:
        img: ``(B, C, H, W)`` batch in ``[0, 1]``.
        partner: ``(B, C, H, W)`` the partner of each image.
        value: ``alpha`` of the Beta distribution (0-dim).
        region: The batch's valid region.

    Returns:
        The mixed batch and the ``(B,)`` partner shares (pasted pixels / valid pixels).
    """
    batch, _, height, width = img.shape
    sizes = region.sizes.to(img.dtype)
    side = _beta(value, batch, img).sqrt().view(-1, 1) * sizes  # (B, 2) box (h, w)
    centres = torch.rand((batch, 2), device=img.device, dtype=img.dtype) * sizes
    low = (centres - 0.5 * side).clamp(min=0.0)
    high = torch.minimum(centres + 0.5 * side, sizes)
    rows = torch.arange(height, device=img.device, dtype=img.dtype).view(1, height, 1) + 0.5
    cols = torch.arange(width, device=img.device, dtype=img.dtype).view(1, 1, width) + 0.5
    inside = ((rows >= low[:, 0].view(-1, 1, 1)) & (rows < high[:, 0].view(-1, 1, 1)) &
              (cols >= low[:, 1].view(-1, 1, 1)) & (cols < high[:, 1].view(-1, 1, 1)))
    share = inside.flatten(1).sum(dim=1).to(img.dtype) / sizes.prod(dim=1)
    return torch.where(inside.unsqueeze(1), partner, img), share


def _base_scores(data_samples: Sequence, num_classes: Optional[int]) -> Tensor:
    """``(B, num_classes)`` targets before mixing: each sample's ``gt_score``, else the one-hot
    of its ``gt_label``."""
    if all('gt_score' in sample for sample in data_samples):
        return torch.stack([sample.gt_score.float() for sample in data_samples])
    if num_classes is None:
        raise ConfigError('the mixing ops write soft targets and need the number of classes: '
                          'set num_classes in the augmenter (tst_mm.TSTDistiller sets it from '
                          "the student's head)")
    labels = []
    for sample in data_samples:
        label = sample.gt_label.flatten()
        if label.numel() != 1:
            raise ValueError(f'the mixing ops need one gt_label per sample, got {label.numel()}')
        labels.append(label)
    return F.one_hot(torch.cat(labels).long(), num_classes).float()


def _with_score(sample, score: Tensor):
    """A copy of ``sample`` whose ``gt_score`` is ``score`` (never modifies ``sample``)."""
    sample = copy.deepcopy(sample)
    if hasattr(sample, 'set_gt_score'):  # mmpretrain DataSample (also sets num_classes)
        sample.set_gt_score(score)
    else:
        sample.gt_score = score
    return sample


def mix_scores(data_samples: Sequence, partners: Optional[Tensor], shares: Tensor,
               num_classes: Optional[int]) -> List:
    """Copies of the samples with the mixed targets as ``gt_score``.

    ``gt_score_i = (1 - s_i) * t_i + s_i * t_{partners[i]}``, where ``t`` is each sample's
    ``gt_score`` or else the one-hot of its ``gt_label``, and ``s`` the partner shares.
    ``gt_label`` is kept (the label of the image mixed into).

    Args:
        data_samples: The batch's data samples.
        partners: ``(B,)`` partner indices, or ``None`` when nothing was mixed.
        shares: ``(B,)`` partner shares in ``[0, 1]`` (no gradient).
        num_classes: Width of the one-hot targets (``None``: every sample has a ``gt_score``).

    Returns:
        New data samples.
    """
    scores = _base_scores(data_samples, num_classes)
    if partners is not None:
        shares = shares.detach().to(scores).view(-1, 1)
        scores = scores + shares * (scores[partners.to(scores.device)] - scores)
    return [_with_score(sample, score.to(sample.gt_label.device) if 'gt_label' in sample
                        else score) for sample, score in zip(data_samples, scores)]


def match_soft_targets(augmented: Sequence, clean: Sequence) -> List:
    """Give the clean samples of ``[x'; x]`` one-hot ``gt_score`` when ``x'`` has soft ones.

    mmpretrain's ``ClsHead`` reads ``gt_score`` for the whole batch when its first sample has
    one, so ``x`` needs targets of the same form as the mixed ``x'``. Samples that already have
    a ``gt_score`` are kept; the others are copies with the one-hot of their ``gt_label``.

    Args:
        augmented: The data samples of ``x'``.
        clean: The data samples of ``x``.

    Returns:
        ``clean`` itself when no augmented sample has a ``gt_score`` (or all clean samples
        already do), else a new list.
    """
    if not augmented or 'gt_score' not in augmented[0]:
        return list(clean)
    if all('gt_score' in sample for sample in clean):
        return list(clean)
    num_classes = augmented[0].gt_score.numel()
    out = []
    for sample in clean:
        if 'gt_score' in sample:
            out.append(sample)
            continue
        out.append(_with_score(sample, _base_scores([sample], num_classes)[0].to(
            sample.gt_label.device)))
    return out


def check_mixing_student(student) -> None:
    """Refuse, in one line, a classifier whose head cannot learn from mixed targets.

    Args:
        student: The student classifier (an mmpretrain ``ImageClassifier``).

    Raises:
        ConfigError: If its head has no ``num_classes`` (the width of the mixed targets), or
            computes accuracies in training (``cal_acc=True``: mmpretrain's ``ClsHead``
            asserts hard targets then).
    """
    head = getattr(student, 'head', None)
    if not isinstance(getattr(head, 'num_classes', None), int):
        raise ConfigError('the mixing ops need a student head with num_classes (the width of '
                          f'the mixed targets); {type(head).__name__} has none')
    if getattr(head, 'cal_acc', False):
        raise ConfigError("the mixing ops give the student soft targets, with which its head's "
                          'training accuracy (cal_acc=True) is undefined; set cal_acc=False in '
                          "the student's head")
