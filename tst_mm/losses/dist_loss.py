"""DIST: distillation from a stronger teacher (Huang et al., NeurIPS 2022)."""
import torch
import torch.nn as nn
from torch import Tensor

from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS

from ._utils import check_same_shape, zero_with_grad

__all__ = ['DISTLoss']


def _pearson(a: Tensor, b: Tensor, dim: int, eps: float) -> Tensor:
    """Pearson correlation of ``a`` and ``b`` along ``dim`` (0 where either is constant)."""
    a = a - a.mean(dim=dim, keepdim=True)
    b = b - b.mean(dim=dim, keepdim=True)
    cov = (a * b).sum(dim=dim)
    # Clamp before the sqrt: sqrt'(0) is infinite and would turn a zero gradient into NaN.
    norm = torch.sqrt(((a * a).sum(dim=dim) * (b * b).sum(dim=dim)).clamp(min=eps * eps))
    return cov / norm


@MODELS.register_module()
class DISTLoss(nn.Module):
    r"""Relation-based KD that matches correlations instead of exact probabilities.

    With :math:`Y^s = \mathrm{softmax}(S/\tau)` and :math:`Y^t = \mathrm{softmax}(T/\tau)`, both
    ``(N, C)`` and :math:`\rho` the Pearson correlation:

    * inter-class loss :math:`1 - \frac{1}{N}\sum_i \rho(Y^s_{i,:}, Y^t_{i,:})` (each sample's
      prediction vector over the classes);
    * intra-class loss :math:`1 - \frac{1}{C}\sum_j \rho(Y^s_{:,j}, Y^t_{:,j})` (each class's
      scores across the batch).

    The loss is ``loss_weight * tau**2 * (beta * inter + gamma * intra)``. Being invariant to
    shifts and scales of the prediction vectors, it lets the student match the teacher's
    ranking rather than its exact values. Softmaxes are in float32; the teacher is detached.

    Note:
        The intra-class term needs a batch of at least two samples; with ``N == 1`` the
        correlation is defined as 0, so that term is the constant 1 with no gradient.

    Args:
        beta: Weight of the inter-class term.
        gamma: Weight of the intra-class term.
        tau: Softmax temperature, > 0.
        loss_weight: Multiplier of the whole loss.
        eps: Floor of the correlation's denominator.
    """

    def __init__(self, beta: float = 1.0, gamma: float = 1.0, tau: float = 1.0,
                 loss_weight: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        if tau <= 0:
            raise ConfigError(f'tau must be > 0, got {tau}')
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)
        self.eps = float(eps)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        """Compute the DIST loss.

        Args:
            student_logits: ``(N, C)`` student logits.
            teacher_logits: ``(N, C)`` teacher logits (detached inside).

        Returns:
            A float32 scalar.
        """
        check_same_shape(student_logits, teacher_logits)
        if student_logits.dim() != 2:
            raise ValueError(f'DISTLoss expects (N, C) logits, got {tuple(student_logits.shape)}')
        if student_logits.shape[0] == 0:
            return zero_with_grad(student_logits)
        y_s = torch.softmax(student_logits.float() / self.tau, dim=1)
        y_t = torch.softmax(teacher_logits.detach().float() / self.tau, dim=1)
        inter = 1.0 - _pearson(y_s, y_t, dim=1, eps=self.eps).mean()
        intra = 1.0 - _pearson(y_s, y_t, dim=0, eps=self.eps).mean()
        loss = self.tau**2 * (self.beta * inter + self.gamma * intra)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        """Show the hyper-parameters in ``repr``."""
        return (f'beta={self.beta}, gamma={self.gamma}, tau={self.tau}, '
                f'loss_weight={self.loss_weight}')
