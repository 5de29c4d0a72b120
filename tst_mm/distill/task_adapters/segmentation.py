"""TST for mmseg ``EncoderDecoder`` segmentors (PSPNet, DeepLabV3, FCN, UPerNet, ...).

Distillation (``distill_losses``)
    The student's ordinary mmseg losses on ``[x'; x]`` (``student.decode.loss_ce``,
    ``student.aux.loss_ce``, ...; accuracies are logged too) plus the KD losses of the
    distiller's ``distill_losses``. Each entry's ``compares`` field names the head whose logits
    it compares (by default the word its name starts with): ``'decode'`` for the
    ``decode_head``, ``'auxiliary'`` for the ``auxiliary_head`` (several auxiliary heads: paired
    in order and averaged). Each loss has its own weight and temperature, e.g. TST's setting::

        distill_losses=dict(
            decode=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.5),
            auxiliary=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=0.5))

    logs ``distill.loss_decode`` and ``distill.loss_auxiliary``. Channel-wise distillation
    instead: ``decode=dict(type='tst_mm.ChannelWiseDivergenceLoss', tau=1.0, loss_weight=3.0)``,
    or both under names of one's own: ``cwd=dict(type=..., compares='decode')``.

    Logits are compared at the **student's** logit resolution: a teacher map of another size
    is resized to the student's with bilinear interpolation (the student head's
    ``align_corners``). Pixel-wise losses that declare a ``valid_mask`` input
    (``tst_mm.KDLoss``; :mod:`tst_mm.losses.extra_inputs`) leave out the pixels whose ground
    truth, resized to that resolution with nearest sampling, is the ``ignore_index`` (padding,
    pixels the augmenter brought in from outside the image, dataset ignore labels). CWD
    compares whole channel maps and takes no mask.
    With the distiller's ``teacher_correct_only``, the pixels of ``x'`` where the teacher's
    decode-head argmax misses the label are left out too (losses must take ``valid_mask``).

Search (``search_evidence``)
    The teacher's task loss: its ordinary mmseg loss on ``x'`` (``teacher.loss``: decode and
    auxiliary cross-entropies with their configured weights). The student's inverted loss:
    the objective's weakness loss (``tst_mm.StudentWeaknessLoss``, the bounded inverted pixel
    CE ``-log(1 - p_y)``) on the student's ``decode_head`` logits, resized to the label size as
    mmseg's ``BaseDecodeHead.loss_by_feat`` does; the head's ``ignore_index`` pixels are left
    out.

The augmenter must run in ``geometric_mode='compose'`` when it has geometric ops
(``labels_follow_pixels``; checked by the base adapter): the label maps then move with the
pixels (nearest sampling; pixels from outside the image become the ignore index, the student
decode head's, which the adapter gives the augmenter as a label rule: ``label_rules``).
"""
import functools
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...augment.label_rules import LabelRule
from ...errors import ConfigError, UnsupportedModelError
from ...losses.extra_inputs import VALID_MASK, call_loss, takes
from ...registry import TASK_ADAPTERS
from ...search_objectives.evidence import STUDENT_INVERTED_LOSS, TEACHER_TASK_LOSS
from .base import (
    TASK_LOSS_EVIDENCE,
    EvidenceSource,
    TaskAdapter,
    is_instance_of,
    teacher_context,
    total_task_loss,
)

__all__ = ['SegmentationAdapter']


def _aux_heads(model: nn.Module) -> List[nn.Module]:
    """The auxiliary heads of a segmentor as a list (empty without one)."""
    aux = getattr(model, 'auxiliary_head', None)
    if aux is None:
        return []
    return list(aux) if isinstance(aux, nn.ModuleList) else [aux]


def _check_segmentor(model: nn.Module, role: str) -> None:
    """Raise ``UnsupportedModelError`` unless ``model`` is an ``EncoderDecoder`` with plain
    decode heads."""
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    from mmseg.models.segmentors import CascadeEncoderDecoder, EncoderDecoder
    if not isinstance(model, EncoderDecoder) or isinstance(model, CascadeEncoderDecoder):
        raise UnsupportedModelError(f'the {role} is a {type(model).__name__}; TST distils mmseg '
                                    'EncoderDecoder segmentors (not cascades or other segmentor '
                                    'types)')
    for head in [model.decode_head] + _aux_heads(model):
        if not isinstance(head, BaseDecodeHead) or type(head).loss is not BaseDecodeHead.loss:
            raise UnsupportedModelError(f'the {role}\'s {type(head).__name__} computes its loss '
                                        'its own way; TST distils heads whose loss is '
                                        'BaseDecodeHead.loss '
                                        '(forward -> per-pixel logits -> loss_by_feat)')


def _check_losses_skip_ignored(model: nn.Module, role: str) -> None:
    """Raise a ``ConfigError`` if a head's loss cannot take ignored pixels.

    The augmenter marks pixels it brings in from outside the image as the ignore index, so
    every training batch has some. mmseg 1.2.2's ``CrossEntropyLoss(class_weight=...)``
    raises ``IndexError`` on them; each loss is probed once on a 1x2 map with one ignored
    pixel so that a fixed mmseg passes.
    """
    for head in [model.decode_head] + _aux_heads(model):
        losses = head.loss_decode if isinstance(head.loss_decode, nn.ModuleList) \
            else [head.loss_decode]
        logits = torch.zeros(1, head.num_classes, 1, 2)
        labels = torch.tensor([[[0, head.ignore_index]]])
        for loss in losses:
            try:
                with torch.no_grad():
                    loss(logits, labels, ignore_index=head.ignore_index)
            except IndexError as err:
                raise ConfigError(
                    f'the {role}\'s {type(head).__name__} loss {type(loss).__name__} fails on '
                    f'pixels labelled ignore_index={head.ignore_index} ({err}), which TST\'s '
                    'warped label maps always contain; in mmseg 1.2.2 this is '
                    'CrossEntropyLoss(class_weight=...): drop class_weight (for class '
                    "imbalance use e.g. sampler=dict(type='OHEMPixelSampler'))") from err


def _head_logits(head: nn.Module, feats: Sequence[Tensor]) -> Tensor:
    logits = head(feats)
    if not isinstance(logits, Tensor) or logits.dim() != 4:
        raise TypeError(f'{type(head).__name__}.forward returned {type(logits).__name__}, '
                        'not (N, C, H, W) logits, which TST needs to distil the head')
    return logits


def _resized_labels(labels: Tensor, size: Sequence[int]) -> Tensor:
    """``(N, 1, H, W)`` labels nearest-resized to ``size`` (as they are at that size)."""
    if tuple(labels.shape[2:]) != tuple(size):
        labels = F.interpolate(labels.float(), size=tuple(size), mode='nearest')
    return labels


def _valid_mask(labels: Tensor, size: Sequence[int], ignore_index: int) -> Tensor:
    """``(N, h, w)`` bool: pixels of the nearest-resized ground truth that are not ignored."""
    return _resized_labels(labels, size)[:, 0] != ignore_index


def _teacher_correct(teacher_logits: Tensor, labels: Tensor, num_augmented: int) -> Tensor:
    """``(N, h, w)`` bool: ``False`` where the teacher's argmax misses the label on ``x'``.

    ``teacher_logits`` are at the compared size ``(h, w)``; labels are nearest-resized to it.
    Pixels of the original images (after the first ``num_augmented``) are all ``True``.
    """
    labels = _resized_labels(labels, teacher_logits.shape[2:])
    correct = teacher_logits.argmax(dim=1) == labels[:, 0].long()
    correct[num_augmented:] = True
    return correct


class _ComparedPixels:
    """Which pixels the KD losses compare at each logit size, computed once per size: not
    ignored and, when ``teacher_decode`` is given (``teacher_correct_only``), taught right
    by the teacher on ``x'``.

    Args:
        labels: ``(N, 1, H, W)`` ground truth.
        ignore_index: The label of ignored pixels.
        resize: ``(logits, size) -> logits`` at ``size``.
        teacher_decode: The teacher's decode-head logits, or ``None``.
        num_augmented: How many samples at the front of the batch are ``x'``.
    """

    def __init__(self, labels: Tensor, ignore_index: int, resize,
                 teacher_decode: Optional[Tensor] = None, num_augmented: int = 0) -> None:
        self.labels, self.ignore_index, self.resize = labels, ignore_index, resize
        self.teacher_decode, self.num_augmented = teacher_decode, num_augmented
        self._masks: Dict[Tuple[int, ...], Tensor] = {}

    def __call__(self, size: Sequence[int]) -> Tensor:
        """``(N, h, w)`` bool mask of the pixels to compare at ``size``."""
        if size not in self._masks:
            mask = _valid_mask(self.labels, size, self.ignore_index)
            if self.teacher_decode is not None:
                mask = mask & _teacher_correct(self.resize(self.teacher_decode, size),
                                               self.labels, self.num_augmented)
            self._masks[size] = mask
        return self._masks[size]

    def dropped(self, size: Sequence[int]) -> Tensor:
        """The share of the counted pixels of ``x'`` at ``size`` that the filter left out."""
        counted = _valid_mask(self.labels, size, self.ignore_index)[:self.num_augmented]
        kept = self(size)[:self.num_augmented]
        return 1.0 - kept.sum() / counted.sum().clamp(min=1)


@TASK_ADAPTERS.register_module()
class SegmentationAdapter(TaskAdapter):
    """Adapter for mmseg ``EncoderDecoder`` students and teachers."""

    task = 'segmentation'
    labels_follow_pixels = True
    compares_choices = ('decode', 'auxiliary')
    provides = TASK_LOSS_EVIDENCE

    def __init__(self, student: nn.Module,
                 compares: Optional[Mapping[str, Optional[str]]] = None) -> None:
        super().__init__(student, compares)
        _check_segmentor(student, 'student')
        #: The student's auxiliary heads, in order (empty without one).
        self.aux_heads = _aux_heads(student)

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        """mmseg segmentors (the checks then ask for an ``EncoderDecoder``)."""
        return is_instance_of(model, 'mmseg.models.segmentors', 'BaseSegmentor')

    # ------------------------------------------------------------------ checks
    def check_compatible(self, teacher: nn.Module) -> None:
        student = self.student
        _check_segmentor(teacher, 'teacher')
        _check_losses_skip_ignored(student, 'student')
        _check_losses_skip_ignored(teacher, 'teacher')
        num_student = student.decode_head.num_classes
        num_teacher = teacher.decode_head.num_classes
        if num_student != num_teacher:
            raise ConfigError(f'teacher has {num_teacher} classes but student has {num_student}; '
                              'set the same decode_head.num_classes (and auxiliary_head) in both '
                              'configs')
        for s_head, t_head in zip(self.aux_heads, _aux_heads(teacher)):
            if s_head.num_classes != t_head.num_classes:
                raise ConfigError(f'teacher auxiliary head has {t_head.num_classes} classes but '
                                  f'the student\'s has {s_head.num_classes}')

    def label_rules(self) -> Dict[str, LabelRule]:
        """Pixels the augmenter brings in from outside the image are the student's decode-head
        ``ignore_index``, which its losses and the KD losses leave out."""
        ignore_index = self.student.decode_head.ignore_index
        return {'seg_ignore_index': LabelRule(
            ignore_index, f'the student\'s decode head ignores {ignore_index}')}

    def check_teacher_correct_only(self, distill_losses: Mapping[str, nn.Module]) -> None:
        without_mask = [name for name, loss in distill_losses.items()
                        if not takes(loss, VALID_MASK)]
        if without_mask:
            raise ConfigError(f'teacher_correct_only leaves pixels out through a valid_mask, which '
                              f'the distill_losses {without_mask} do not take (e.g. CWD compares '
                              'whole channel maps); use tst_mm.KDLoss or drop teacher_correct_only')

    # ------------------------------------------------------------------ distillation
    def _student_losses(self, logits: Dict[str, List[Tensor]],
                        data_samples: List) -> Dict[str, Tensor]:
        """The student's mmseg losses of each head (``student.decode.*``, ``student.aux.*``)."""
        heads = [('decode', self.student.decode_head, logits['decode'][0])]
        for idx, (head, head_logits) in enumerate(zip(self.aux_heads, logits['auxiliary'])):
            heads.append(('aux' if len(self.aux_heads) == 1 else f'aux_{idx}', head, head_logits))
        return {f'student.{prefix}.{key}': value for prefix, head, head_logits in heads
                for key, value in head.loss_by_feat(head_logits, data_samples).items()}

    def _resized(self, logits: Tensor, size) -> Tensor:
        """Logits at ``size`` (bilinear, with the student head's ``align_corners``)."""
        if logits.shape[2:] == size:
            return logits
        return F.interpolate(logits, size=size, mode='bilinear',
                             align_corners=self.student.decode_head.align_corners)

    def distill_losses(self, teacher: nn.Module, inputs: Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module],
                       num_augmented: int = 0, teacher_correct_only: bool = False,
                       teacher_grad: bool = False, x_prime_weight: Optional[Tensor] = None
                       ) -> Dict[str, Tensor]:
        feats = self.student.extract_feat(inputs)
        student_logits = {'decode': [_head_logits(self.student.decode_head, feats)],
                          'auxiliary': [_head_logits(h, feats) for h in self.aux_heads]}
        losses = self._student_losses(student_logits, data_samples)
        if not distill_losses:
            return losses

        compares = {name: self.compares(name) for name in distill_losses}
        filtered = teacher_correct_only and num_augmented > 0
        teacher_logits = {}
        with teacher_context(teacher_grad):
            teacher_feats = teacher.extract_feat(inputs)
            if 'decode' in compares.values() or filtered:
                teacher_logits['decode'] = [_head_logits(teacher.decode_head, teacher_feats)]
            if 'auxiliary' in compares.values():
                teacher_logits['auxiliary'] = [
                    _head_logits(h, teacher_feats) for h in _aux_heads(teacher)]
        pixels = _ComparedPixels(
            self.student.decode_head._stack_batch_gt(data_samples),  # (N, 1, H, W)
            self.student.decode_head.ignore_index, self._resized,
            teacher_logits['decode'][0] if filtered else None, num_augmented)
        for name, loss in distill_losses.items():
            head = compares[name]
            pairs = list(zip(student_logits[head], teacher_logits[head]))
            if not pairs or len(student_logits[head]) != len(teacher_logits[head]):
                raise ConfigError(
                    f'distill_losses entry {name!r} compares {head} heads, but the student has '
                    f'{len(student_logits[head])} and the teacher {len(teacher_logits[head])}; '
                    'give both the same auxiliary_head layout or drop the entry')
            values = [call_loss(loss, s_logits, self._resized(t_logits, s_logits.shape[2:]),
                                valid_mask=functools.partial(pixels, s_logits.shape[2:]))
                      for s_logits, t_logits in pairs]
            losses[f'distill.loss_{name}'] = torch.stack(values).mean()
        if filtered:
            losses['distill.dropped_aug'] = pixels.dropped(student_logits['decode'][0].shape[2:])
        return losses

    # ------------------------------------------------------------------ search
    def search_evidence(self, teacher: nn.Module, inputs: Tensor,
                        data_samples: List, clean_inputs: Optional[Tensor] = None
                        ) -> Dict[str, EvidenceSource]:
        """The teacher's mmseg loss on ``x'``; the student's inverted loss: the weakness loss
        on its decode head's logits (see the module docstring)."""

        def student_inverted(weakness_loss: nn.Module) -> Tensor:
            head = self.student.decode_head
            logits = _head_logits(head, self.student.extract_feat(inputs))
            labels = head._stack_batch_gt(data_samples)  # (N, 1, H, W), as mmseg's loss
            logits = F.interpolate(logits, size=labels.shape[2:], mode='bilinear',
                                   align_corners=head.align_corners)
            # the head's ignored pixels, whatever the loss's own default
            return call_loss(weakness_loss, logits, labels[:, 0].long(),
                             ignore_index=head.ignore_index)

        return {
            TEACHER_TASK_LOSS: lambda evidence: total_task_loss(
                teacher.loss(inputs, data_samples), 'segmentor'),
            STUDENT_INVERTED_LOSS: lambda evidence: student_inverted,
        }
