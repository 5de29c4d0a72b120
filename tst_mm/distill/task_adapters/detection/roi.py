"""The RoI head of a two-stage detector: its stages, how the teacher classifies the student's
RoIs, and which RoIs ``teacher_correct_only`` keeps."""
import inspect
from typing import List, Tuple

from torch import Tensor, nn

from ....errors import UnsupportedModelError
from .capture import OutputCapture

__all__ = ['roi_stages', 'stage_weights', 'teacher_roi_logits', 'roi_teacher_correct']


def roi_stages(model: nn.Module) -> List[Tuple[nn.Module, nn.Module]]:
    """``(bbox_roi_extractor, bbox_head)`` of each stage of a two-stage detector's RoI head:
    one for a ``StandardRoIHead`` (Faster / Mask R-CNN), one per stage for a
    ``CascadeRoIHead``.

    Raises:
        UnsupportedModelError: If the RoI head does not classify RoIs through
            ``_bbox_forward(x, rois)`` or ``_bbox_forward(stage, x, rois)``, which is how the
            teacher classifies the student's RoIs.
    """
    roi_head = getattr(model, 'roi_head', None)
    heads = getattr(roi_head, 'bbox_head', None)
    extractors = getattr(roi_head, 'bbox_roi_extractor', None)
    forward = getattr(roi_head, '_bbox_forward', None)
    arguments = list(inspect.signature(forward).parameters) if forward is not None else []
    if isinstance(heads, nn.ModuleList) and isinstance(extractors, nn.ModuleList) \
            and len(heads) == len(extractors) and arguments == ['stage', 'x', 'rois']:
        return list(zip(extractors, heads))
    if isinstance(heads, nn.Module) and not isinstance(heads, nn.ModuleList) \
            and isinstance(extractors, nn.Module) and arguments == ['x', 'rois']:
        return [(extractors, heads)]
    raise UnsupportedModelError(f'{type(model).__name__} has a {type(roi_head).__name__}; TST '
                                'distils two-stage detectors whose RoI head classifies RoIs with '
                                '_bbox_forward(x, rois) (StandardRoIHead: Faster / Mask R-CNN) or '
                                '_bbox_forward(stage, x, rois) (CascadeRoIHead)')


def teacher_roi_logits(roi_head: nn.Module, stage: int, feats, rois: Tensor) -> Tensor:
    """The class logits of the teacher's RoI head at ``stage`` for the given RoIs."""
    if isinstance(roi_head.bbox_head, nn.ModuleList):
        return roi_head._bbox_forward(stage, feats, rois)['cls_score']
    return roi_head._bbox_forward(feats, rois)['cls_score']


def stage_weights(model: nn.Module, num_stages: int) -> List[float]:
    """Weights of the ``num_stages`` RoI head stages in KD: the cascade's
    ``stage_loss_weights``."""
    weights = getattr(model.roi_head, 'stage_loss_weights', None) or [1.0] * num_stages
    return [float(w) for w in weights]


def roi_teacher_correct(teacher_cls: List[Tensor], capture: OutputCapture,
                        num_augmented: int) -> Tuple[List[Tensor], Tensor]:
    """Which RoIs the KD losses keep when only what the teacher gets right is taught.

    Returns:
        ``(keep, dropped)``: per RoI-head stage, ``(R,)`` bool, ``False`` for RoIs of the first
        ``num_augmented`` images (``x'``) whose teacher argmax is not their class target
        (background included); and the share of the RoIs of ``x'`` left out (all stages).
    """
    if len(capture.roi_labels) != len(teacher_cls):
        raise RuntimeError('teacher_correct_only: the student\'s RoI head computed no '
                           'classification loss, so the RoIs have no class targets to check')
    keep, augmented, dropped = [], 0, 0
    for stage, logits in enumerate(teacher_cls):
        on_augmented = capture.rois[stage][:, 0] < num_augmented
        correct = logits.argmax(dim=1) == capture.roi_labels[stage]
        keep.append(correct | ~on_augmented)
        augmented += on_augmented.sum()
        dropped += (~correct & on_augmented).sum()
    return keep, dropped / max(int(augmented), 1)
