"""Channel-wise distillation (Shu et al., ICCV 2021)."""
import torch
import torch.nn as nn
from torch import Tensor

from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS

from ._utils import resize_teacher_to_student

__all__ = ['ChannelWiseDivergenceLoss']


@MODELS.register_module()
class ChannelWiseDivergenceLoss(nn.Module):
    r"""Channel-wise divergence: match each channel's spatial distribution.

    Every channel of every sample is turned into a distribution over the ``H*W`` positions,
    :math:`\phi(x) = \mathrm{softmax}(x/\tau)` over space, and the loss is

    .. math::
        \frac{\tau^2}{N C} \sum_{n, c} \mathrm{KL}\big(\phi(t_{n,c}) \,\|\, \phi(s_{n,c})\big)

    times ``loss_weight``. Works on feature maps or dense logits (e.g. segmentation
    ``decode_head`` outputs). The teacher map is detached and, when its spatial size differs
    from the student's, resized **to the student's size** with bilinear interpolation
    (``align_corners=False``). Channel counts must agree. Computed in float32.

    Args:
        tau: Softmax temperature, > 0.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ConfigError(f'tau must be > 0, got {tau}')
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)

    def forward(self, student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
        """Compute the CWD loss.

        Args:
            student_feat: ``(N, C, Hs, Ws)`` student map.
            teacher_feat: ``(N, C, Ht, Wt)`` teacher map (detached inside).

        Returns:
            A float32 scalar.
        """
        student, teacher = resize_teacher_to_student(student_feat, teacher_feat)
        n, c = student.shape[:2]
        if student.numel() == 0:
            return student.sum() * 0.0
        log_p_s = torch.log_softmax(student.flatten(2) / self.tau, dim=2)
        log_p_t = torch.log_softmax(teacher.flatten(2) / self.tau, dim=2)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum()
        return self.loss_weight * self.tau**2 * kl / (n * c)

    def extra_repr(self) -> str:
        """Show the hyper-parameters in ``repr``."""
        return f'tau={self.tau}, loss_weight={self.loss_weight}'
