"""Small helpers shared by the losses of tst-mm (not part of the public API)."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def class_last(logits: Tensor) -> Tensor:
    """Flatten logits to ``(M, C)`` with the class dimension last.

    Args:
        logits: ``(N, C)`` or dense ``(N, C, *spatial)`` logits; the class dimension is 1.

    Returns:
        ``(N, C)`` unchanged, or ``(N * prod(spatial), C)`` for dense input.
    """
    if logits.dim() < 2:
        raise ValueError(f'expected logits of shape (N, C, ...), got {tuple(logits.shape)}')
    if logits.dim() == 2:
        return logits
    num_classes = logits.shape[1]
    return logits.movedim(1, -1).reshape(-1, num_classes)


def flatten_mask(mask: Optional[Tensor], logits: Tensor) -> Optional[Tensor]:
    """Flatten a per-sample / per-pixel mask to match :func:`class_last` of ``logits``.

    Args:
        mask: ``None`` or a tensor of shape ``(N, *spatial)`` (any dtype; non-zero = keep).
        logits: the ``(N, C, *spatial)`` logits the mask belongs to.

    Returns:
        ``None`` or a flat bool tensor with ``N * prod(spatial)`` entries.
    """
    if mask is None:
        return None
    expected = (logits.shape[0], ) + tuple(logits.shape[2:])
    if tuple(mask.shape) != expected:
        raise ValueError(f'mask shape {tuple(mask.shape)} does not match logits '
                         f'{tuple(logits.shape)}; expected {expected}')
    return mask.reshape(-1).bool()


def check_same_shape(student: Tensor, teacher: Tensor) -> None:
    """Raise a readable error when student and teacher tensors differ in shape."""
    if student.shape != teacher.shape:
        raise ValueError(f'student shape {tuple(student.shape)} != teacher shape '
                         f'{tuple(teacher.shape)}')


def zero_with_grad(ref: Tensor) -> Tensor:
    """A float32 scalar zero that stays connected to ``ref``'s graph (so ``backward`` works)."""
    return ref.float().sum() * 0.0


def resize_teacher_to_student(student: Tensor, teacher: Tensor) -> Tuple[Tensor, Tensor]:
    """Cast both ``(N, C, H, W)`` maps to float32 and resize the teacher to the student's size.

    The teacher map is detached and bilinearly interpolated (``align_corners=False``) when its
    spatial size differs from the student's; the student map is never resized.

    Args:
        student: student feature map ``(N, C, Hs, Ws)``.
        teacher: teacher feature map ``(N, C, Ht, Wt)``.

    Returns:
        ``(student, teacher)`` in float32, both ``(N, C, Hs, Ws)``; the teacher is detached.
    """
    if student.dim() != 4 or teacher.dim() != 4:
        raise ValueError('expected (N, C, H, W) feature maps, got student '
                         f'{tuple(student.shape)} and teacher {tuple(teacher.shape)}')
    if student.shape[:2] != teacher.shape[:2]:
        raise ValueError(f'student {tuple(student.shape)} and teacher {tuple(teacher.shape)} '
                         'must agree in batch and channel size (add a connector first)')
    student = student.float()
    teacher = teacher.detach().float()
    if teacher.shape[2:] != student.shape[2:]:
        teacher = F.interpolate(
            teacher, size=student.shape[2:], mode='bilinear', align_corners=False)
    return student, teacher


def log_softmax32(logits: Tensor, tau: float = 1.0, dim: int = -1) -> Tensor:
    """``log_softmax(logits / tau)`` computed in float32 (safe under fp16 autocast)."""
    return torch.log_softmax(logits.float() / tau, dim=dim)
