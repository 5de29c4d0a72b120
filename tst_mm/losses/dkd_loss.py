"""Decoupled knowledge distillation (Zhao et al., CVPR 2022)."""
from typing import Tuple

import torch
import torch.nn as nn
from torch import Tensor

from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS

from ._utils import check_same_shape, zero_with_grad
from .extra_inputs import LABELS

__all__ = ['DKDLoss']


@MODELS.register_module()
class DKDLoss(nn.Module):
    r"""Decoupled KD: target-class KD (TCKD) plus non-target-class KD (NCKD).

    With :math:`p = \mathrm{softmax}(z/\tau)` and target class :math:`y`:

    * TCKD is :math:`\tau^2\,\mathrm{KL}(b^t \| b^s)` between the binary distributions
      :math:`b = (p_y, 1 - p_y)`;
    * NCKD is :math:`\tau^2\,\mathrm{KL}(\hat p^t \| \hat p^s)` between the distributions over
      the non-target classes, :math:`\hat p_c = p_c / (1 - p_y)` for :math:`c \ne y`.

    The loss is ``loss_weight * (alpha * TCKD + beta * NCKD)``, each term averaged over the batch.
    Both terms are computed from log-sum-exps in float32, so :math:`1 - p_y` never underflows to
    a ``log(0)``. The teacher logits are detached. DKD's linear warm-up of the loss over the
    first epochs is a schedule matter and is left to the caller (scale ``loss_weight``).

    Args:
        alpha: Weight of TCKD.
        beta: Weight of NCKD (8.0 is the paper's CIFAR-100 setting for ResNet pairs).
        tau: Softmax temperature, > 0.
        loss_weight: Multiplier of the whole loss.
    """

    extra_inputs = (LABELS, )

    def __init__(self, alpha: float = 1.0, beta: float = 8.0, tau: float = 4.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ConfigError(f'tau must be > 0, got {tau}')
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        """Compute the DKD loss.

        Args:
            student_logits: ``(N, C)`` student logits, ``C >= 2``.
            teacher_logits: ``(N, C)`` teacher logits (detached inside).
            labels: ``(N,)`` integer class indices in ``[0, C)``.

        Returns:
            A float32 scalar.
        """
        check_same_shape(student_logits, teacher_logits)
        if student_logits.dim() != 2 or student_logits.shape[1] < 2:
            raise ValueError(f'DKDLoss expects (N, C>=2) logits, got {tuple(student_logits.shape)}')
        if labels.shape != student_logits.shape[:1]:
            raise ValueError(f'labels shape {tuple(labels.shape)} does not match logits '
                             f'{tuple(student_logits.shape)}')
        if student_logits.shape[0] == 0:
            return zero_with_grad(student_logits)
        labels = labels.long()
        target = torch.zeros_like(student_logits, dtype=torch.bool)
        target.scatter_(1, labels[:, None], True)

        log_b_s, log_nt_s = self._split(student_logits, labels, target)
        log_b_t, log_nt_t = self._split(teacher_logits.detach(), labels, target)

        tckd = (log_b_t.exp() * (log_b_t - log_b_s)).sum(dim=1).mean()
        # Entries at the target class are 0 in both log-distributions and get weight 0.
        p_nt_t = log_nt_t.exp().masked_fill(target, 0.0)
        nckd = (p_nt_t * (log_nt_t - log_nt_s)).sum(dim=1).mean()
        loss = (self.alpha * tckd + self.beta * nckd) * self.tau**2
        return self.loss_weight * loss

    def _split(self, logits: Tensor, labels: Tensor, target: Tensor) -> Tuple[Tensor, Tensor]:
        """Log binary (target, rest) distribution and log non-target distribution.

        Args:
            logits: ``(N, C)`` logits.
            labels: ``(N,)`` target class indices.
            target: ``(N, C)`` one-hot bool mask of the target class.

        Returns:
            ``(log_b, log_nt)``: ``(N, 2)`` log of ``(p_y, 1 - p_y)`` and ``(N, C)`` log of the
            renormalised non-target distribution, with 0 at the target entry.
        """
        z = logits.float() / self.tau
        lse_all = torch.logsumexp(z, dim=1)
        z_nt = z.masked_fill(target, float('-inf'))
        lse_nt = torch.logsumexp(z_nt, dim=1)
        z_y = z.gather(1, labels[:, None]).squeeze(1)
        log_b = torch.stack([z_y - lse_all, lse_nt - lse_all], dim=1)
        log_nt = (z_nt - lse_nt[:, None]).masked_fill(target, 0.0)
        return log_b, log_nt

    def extra_repr(self) -> str:
        """Show the hyper-parameters in ``repr``."""
        return (f'alpha={self.alpha}, beta={self.beta}, tau={self.tau}, '
                f'loss_weight={self.loss_weight}')
