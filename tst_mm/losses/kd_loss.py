"""Vanilla knowledge-distillation loss (Hinton et al., 2015)."""
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS

from ._utils import check_same_shape, class_last, flatten_mask, log_softmax32, zero_with_grad
from .extra_inputs import VALID_MASK

__all__ = ['KDLoss']


@MODELS.register_module()
class KDLoss(nn.Module):
    r"""Temperature-scaled KL divergence from the teacher's to the student's class distribution.

    For each sample (or pixel) with student logits :math:`s` and teacher logits :math:`t`

    .. math::
        \ell = \tau^2 \, \mathrm{KL}\big(\mathrm{softmax}(t/\tau) \,\|\,
        \mathrm{softmax}(s/\tau)\big),

    and the loss is ``loss_weight`` times the reduction of :math:`\ell`. The :math:`\tau^2` factor
    keeps gradient magnitudes comparable across temperatures.

    Logits are ``(N, C)`` or dense ``(N, C, H, W)`` (class dimension 1, e.g. segmentation or
    per-location detection maps). For dense logits every pixel is a sample, so ``'batchmean'``
    averages over the ``N*H*W`` pixels (or over the valid ones when ``valid_mask`` is given).
    The teacher logits are detached inside; softmaxes are computed in float32.

    Args:
        tau: Softmax temperature, > 0.
        loss_weight: Multiplier of the loss.
        reduction: ``'batchmean'`` (mean of :math:`\ell` over samples/valid pixels), ``'sum'``
            or ``'none'`` (returns :math:`\ell` per sample ``(N,)`` or per pixel ``(N, H, W)``,
            zero at masked-out pixels).
    """

    extra_inputs = (VALID_MASK, )

    def __init__(self, tau: float = 4.0, loss_weight: float = 1.0,
                 reduction: str = 'batchmean') -> None:
        super().__init__()
        if tau <= 0:
            raise ConfigError(f'tau must be > 0, got {tau}')
        if reduction not in ('batchmean', 'sum', 'none'):
            raise ConfigError(f"reduction must be 'batchmean', 'sum' or 'none', got {reduction!r}")
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                valid_mask: Optional[Tensor] = None) -> Tensor:
        """Compute the KD loss.

        Args:
            student_logits: ``(N, C)`` or ``(N, C, H, W)`` student logits.
            teacher_logits: Teacher logits of the same shape (detached inside).
            valid_mask: Optional ``(N,)`` / ``(N, H, W)`` bool mask; ``False`` entries (e.g.
                ignored pixels) contribute nothing and are left out of the mean.

        Returns:
            A float32 scalar, or per-sample/per-pixel values for ``reduction='none'``.
        """
        check_same_shape(student_logits, teacher_logits)
        log_p_s = log_softmax32(class_last(student_logits), self.tau)
        log_p_t = log_softmax32(class_last(teacher_logits.detach()), self.tau)
        # p_t * (log p_t - log p_s); an underflowed p_t gives 0 * finite = 0, never NaN.
        per_sample = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1) * self.tau**2

        mask = flatten_mask(valid_mask, student_logits)
        if mask is not None:
            per_sample = torch.where(mask, per_sample, per_sample.new_zeros(()))

        if self.reduction == 'none':
            out_shape = (student_logits.shape[0], ) + tuple(student_logits.shape[2:])
            return self.loss_weight * per_sample.reshape(out_shape)
        if self.reduction == 'sum':
            return self.loss_weight * per_sample.sum()
        if per_sample.numel() == 0:
            return zero_with_grad(student_logits)
        if mask is None:
            return self.loss_weight * per_sample.mean()
        # No host sync: with no valid entry the numerator is an exact, graph-connected zero.
        count = mask.sum().clamp(min=1).to(per_sample.dtype)
        return self.loss_weight * per_sample.sum() / count

    def extra_repr(self) -> str:
        """Show the hyper-parameters in ``repr``."""
        return f'tau={self.tau}, loss_weight={self.loss_weight}, reduction={self.reduction!r}'
