"""Dense heads of single-stage detectors: their layout, and KD between their per-location
classification maps."""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from ....errors import ConfigError
from ....losses.extra_inputs import call_loss

__all__ = ['DenseLayout', 'check_dense_heads', 'valid_locations', 'dense_kd']


def _num_priors(head: nn.Module) -> int:
    """Priors (anchors or points) per location of a dense head."""
    priors = getattr(head, 'num_base_priors', None)
    if priors is None:  # e.g. YOLOX: one point per location
        priors = head.prior_generator.num_base_priors[0]
    return int(priors)


def _outputs_probabilities(head: nn.Module) -> bool:
    """Whether a dense head's classification maps are probabilities (TOOD), not logits."""
    return bool(getattr(getattr(head, 'loss_cls', None), 'activated', False))


@dataclass(frozen=True)
class DenseLayout:
    """What per-location KD reads from a dense head, read once.

    Attributes:
        priors: Priors (anchors or points) per location.
        channels: Classification channels per prior.
        sigmoid: Whether each class score is a sigmoid (else a softmax over the channels).
        probabilities: Whether the maps are probabilities, not logits (TOOD).
    """

    priors: int
    channels: int
    sigmoid: bool
    probabilities: bool

    @classmethod
    def of(cls, head: nn.Module) -> 'DenseLayout':
        """The layout of ``head``."""
        return cls(_num_priors(head), int(head.cls_out_channels), bool(head.use_sigmoid_cls),
                   _outputs_probabilities(head))


def _layout_to_compare(head: nn.Module) -> dict:
    """What a teacher's dense head must share with the student's."""
    generator = getattr(head, 'prior_generator', None)
    strides = [tuple(s) if isinstance(s, (tuple, list)) else (s, s)
               for s in getattr(generator, 'strides', [])]
    return dict(strides=strides,
                num_base_priors=getattr(head, 'num_base_priors', None),
                cls_out_channels=getattr(head, 'cls_out_channels', None),
                use_sigmoid_cls=getattr(head, 'use_sigmoid_cls', None))


def check_dense_heads(student_head: nn.Module, teacher_head: nn.Module) -> None:
    """Raise a ``ConfigError`` unless the two heads have the same layout."""
    student, teacher = _layout_to_compare(student_head), _layout_to_compare(teacher_head)
    if student != teacher:
        raise ConfigError('per-location KD needs dense heads with the same layout (strides, '
                          'priors per location, classification channels, sigmoid/softmax); '
                          f'student {student} vs teacher {teacher}')


def valid_locations(data_samples: Sequence, shape: Tuple[int, int],
                     batch_shape: Tuple[int, int], device: torch.device) -> Tensor:
    """``(N, H, W)`` bool: feature locations whose stride cell starts inside the image."""
    height, width = shape
    stride_h, stride_w = batch_shape[0] / height, batch_shape[1] / width
    rows = torch.arange(height, device=device).view(1, -1, 1)
    cols = torch.arange(width, device=device).view(1, 1, -1)
    limits = []
    for sample in data_samples:
        img_h, img_w = sample.metainfo.get('img_shape', batch_shape)[:2]
        limits.append([-(-img_h // stride_h), -(-img_w // stride_w)])  # ceil
    limits = torch.tensor(limits, device=device, dtype=torch.float32)
    return (rows < limits[:, 0].view(-1, 1, 1)) & (cols < limits[:, 1].view(-1, 1, 1))


def dense_kd(loss: nn.Module, layout: DenseLayout, student_maps: List[Tensor],
             teacher_maps: List[Tensor], inputs: Tensor, data_samples: List) -> Tensor:
    """A logit KD loss between the student's and the teacher's classification maps, leaving
    out locations on padding (see :mod:`~.adapter`)."""
    if student_maps is None:
        raise RuntimeError('the student computed no classification maps to distil')
    priors, channels = layout.priors, layout.channels
    batch_shape = tuple(inputs.shape[-2:])
    students, teachers, masks = [], [], []
    for s_map, t_map in zip(student_maps, teacher_maps):
        n, _, h, w = s_map.shape
        valid = valid_locations(data_samples, (h, w), batch_shape, s_map.device)
        # (N, A*C, H, W) -> (N, C, A, H*W): class dimension 1, anchors and places after it
        students.append(s_map.view(n, priors, channels, h * w).transpose(1, 2))
        teachers.append(t_map.view(n, priors, channels, h * w).transpose(1, 2))
        masks.append(valid.view(n, 1, h * w).expand(n, priors, h * w))
    student = torch.cat(students, dim=-1)
    teacher = torch.cat(teachers, dim=-1)
    mask = torch.cat(masks, dim=-1)
    if not layout.sigmoid:
        return call_loss(loss, student, teacher, valid_mask=mask)
    if layout.probabilities:  # TOOD: back to logits, sigmoid(logit(p)) = p
        student, teacher = torch.logit(student, eps=1e-6), torch.logit(teacher, eps=1e-6)
    # Bernoulli per (class, anchor, place) as two logits [0, z]: dim 1 becomes {no, yes}.
    student = torch.stack([torch.zeros_like(student), student], dim=1)
    teacher = torch.stack([torch.zeros_like(teacher), teacher], dim=1)
    mask = mask.unsqueeze(1).expand(-1, channels, -1, -1)
    return channels * call_loss(loss, student, teacher, valid_mask=mask)
