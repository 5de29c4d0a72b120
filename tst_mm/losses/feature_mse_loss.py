"""Mean-squared error between student and teacher feature maps."""
import torch
import torch.nn as nn
from torch import Tensor

from tst_mm.registry import MODELS

from ._utils import resize_teacher_to_student

__all__ = ['FeatureMSELoss']


@MODELS.register_module()
class FeatureMSELoss(nn.Module):
    """Element-wise MSE between ``(N, C, H, W)`` student and teacher feature maps.

    The teacher map is detached and, when its spatial size differs from the student's, resized
    **to the student's size** with bilinear interpolation (``align_corners=False``); the student
    map is never resized. Channel counts must already agree (put a connector, e.g. a 1x1 conv,
    on the student first). Computed in float32; the result is the mean over all ``N*C*H*W``
    elements times ``loss_weight``.

    Args:
        loss_weight: Multiplier of the loss.
        normalize: If True, standardise each channel of both maps to zero mean and unit variance
            over ``(N, H, W)`` before the MSE (as in PKD), which makes the loss insensitive to
            the features' scale.
        eps: Added to the variance when ``normalize`` is True.
    """

    def __init__(self, loss_weight: float = 1.0, normalize: bool = False,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.normalize = bool(normalize)
        self.eps = float(eps)

    def _standardise(self, feat: Tensor) -> Tensor:
        """Zero-mean, unit-variance per channel over the batch and spatial dimensions."""
        mean = feat.mean(dim=(0, 2, 3), keepdim=True)
        var = feat.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        return (feat - mean) / torch.sqrt(var + self.eps)

    def forward(self, student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
        """Compute the feature MSE.

        Args:
            student_feat: ``(N, C, Hs, Ws)`` student feature map.
            teacher_feat: ``(N, C, Ht, Wt)`` teacher feature map (detached inside).

        Returns:
            A float32 scalar.
        """
        student, teacher = resize_teacher_to_student(student_feat, teacher_feat)
        if student.numel() == 0:
            return student.sum() * 0.0
        if self.normalize:
            student = self._standardise(student)
            teacher = self._standardise(teacher)
        return self.loss_weight * (student - teacher).pow(2).mean()

    def extra_repr(self) -> str:
        """Show the hyper-parameters in ``repr``."""
        return f'loss_weight={self.loss_weight}, normalize={self.normalize}'
