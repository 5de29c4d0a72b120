"""TST's search objective on the student: the bounded inverted cross-entropy."""
import math
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS

from ._utils import class_last, zero_with_grad
from .extra_inputs import IGNORE_INDEX

__all__ = ['StudentWeaknessLoss']


@MODELS.register_module()
class StudentWeaknessLoss(nn.Module):
    r"""Inverted cross-entropy :math:`-\log(1 - p_\mathrm{student}(y \mid x))`.

    **Minimising this loss pushes the student's true-class probability DOWN.** It is the
    student's half of TST's augmentation-search objective: the augmenter is trained so that its
    samples are hard for the student (and, through a separate CE term, still easy for the
    teacher). Unlike maximising the student's CE, which is unbounded above, this loss is bounded
    below by 0 (reached as :math:`p_y \to 0`), so the search cannot run away.

    :math:`\log(1 - p_y)` is computed exactly as
    :math:`\mathrm{logsumexp}_{c \ne y} z_c - \mathrm{logsumexp}_c z_c` in float32, never as
    ``log(1 - exp(...))``, and the per-sample loss is

    .. math::
        \ell = -\log\big(1 - p_y + \epsilon\big)
             = -\mathrm{logaddexp}\big(\log(1 - p_y), \log\epsilon\big),

    so it stays finite and smooth as :math:`p_y \to 1` (it saturates at :math:`-\log\epsilon`,
    about 13.8 for the default; ``eps=0`` gives the exact, unbounded form). The gradient with
    respect to the target logit is positive, so a descent step lowers :math:`p_y`.

    Args:
        loss_weight: Multiplier of the loss.
        eps: Smooth floor added to :math:`1 - p_y`, >= 0.
        ignore_index: Label value whose samples/pixels are left out (and out of the mean);
            ``None`` (default) leaves none out, as every label of a classification dataset
            is a class (ImageNet has a class 255). The segmentation adapter passes its decode
            head's ``ignore_index`` per call.
    """

    extra_inputs = (IGNORE_INDEX, )

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-6,
                 ignore_index: Optional[int] = None) -> None:
        super().__init__()
        if eps < 0:
            raise ConfigError(f'eps must be >= 0, got {eps}')
        self.loss_weight = float(loss_weight)
        self.eps = float(eps)
        self.ignore_index = None if ignore_index is None else int(ignore_index)

    def forward(self, logits: Tensor, labels: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                ignore_index: Optional[int] = None) -> Tensor:
        """Compute the mean inverted CE over the valid samples/pixels.

        Args:
            logits: ``(N, C)`` or dense ``(N, C, H, W)`` student logits, ``C >= 2``.
            labels: ``(N,)`` or ``(N, H, W)`` class indices (``(N, 1, H, W)`` is accepted too);
                entries equal to ``ignore_index`` are ignored.
            weight: Optional per-sample/per-pixel weights, same shape as ``labels``.
            avg_factor: Optional denominator replacing the number of valid entries (as in
                mmdet's losses).
            ignore_index: Overrides the configured ``ignore_index`` for this call.

        Returns:
            A float32 scalar; a graph-connected 0 when no entry is valid.
        """
        if logits.dim() >= 3 and labels.dim() == logits.dim() and labels.shape[1] == 1:
            labels = labels.squeeze(1)
        expected = (logits.shape[0], ) + tuple(logits.shape[2:])
        if logits.dim() < 2 or tuple(labels.shape) != expected:
            raise ValueError(f'labels shape {tuple(labels.shape)} does not match logits '
                             f'{tuple(logits.shape)}; expected {expected}')
        if logits.shape[1] < 2:
            raise ValueError('StudentWeaknessLoss needs at least 2 classes')
        if labels.numel() == 0:
            return zero_with_grad(logits)

        z = class_last(logits).float()
        labels = labels.reshape(-1).long()
        ignore_index = self.ignore_index if ignore_index is None else ignore_index
        valid = torch.ones_like(labels, dtype=torch.bool) if ignore_index is None \
            else labels != ignore_index
        safe_labels = torch.where(valid, labels, labels.new_zeros(()))
        target = torch.zeros_like(z, dtype=torch.bool)
        target.scatter_(1, safe_labels[:, None], True)

        log_one_minus_p = (torch.logsumexp(z.masked_fill(target, float('-inf')), dim=1)
                           - torch.logsumexp(z, dim=1))
        if self.eps > 0:
            log_eps = torch.full_like(log_one_minus_p, math.log(self.eps))
            per_sample = -torch.logaddexp(log_one_minus_p, log_eps)
        else:
            per_sample = -log_one_minus_p

        keep = valid.to(per_sample.dtype)
        if weight is not None:
            if tuple(weight.shape) != expected:
                raise ValueError(f'weight shape {tuple(weight.shape)} != {expected}')
            keep = keep * weight.reshape(-1).float()
        per_sample = torch.where(valid, per_sample, per_sample.new_zeros(())) * keep
        if avg_factor is None:
            denom = valid.sum().clamp(min=1).to(per_sample.dtype)
        else:
            # Like mmdet: a tiny epsilon keeps avg_factor == 0 from dividing by zero.
            denom = avg_factor + torch.finfo(torch.float32).eps
        return self.loss_weight * per_sample.sum() / denom

    def extra_repr(self) -> str:
        """Show the hyper-parameters in ``repr``."""
        return (f'loss_weight={self.loss_weight}, eps={self.eps}, '
                f'ignore_index={self.ignore_index}')
