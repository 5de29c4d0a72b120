"""Record a detector's intermediate outputs while it computes its loss."""
import functools
from typing import Dict, List, Optional, Sequence, Tuple

from torch import Tensor, nn

__all__ = ['OutputCapture']


class OutputCapture:
    """Record a detector's intermediate outputs while it computes its loss (forward hooks).

    Attributes:
        feats: The neck (or backbone) outputs.
        rois: Two-stage: per RoI-head stage, the RoIs its bbox head classified.
        cls_scores: Two-stage: per stage, ``(R, C + 1)`` class logits of those RoIs.
        roi_labels: Two-stage: per stage, ``(R,)`` class targets of those RoIs (``C`` for
            background), as the bbox head's classification loss received them.
        dense_cls: Single-stage: per-level classification maps.

    Args:
        model: The detector.
        family: Its family (:func:`~.family.detector_family`).
        stages: Two-stage: ``(bbox_roi_extractor, bbox_head)`` of each RoI-head stage
            (:func:`~.roi.roi_stages`).
    """

    def __init__(self, model: nn.Module, family: str,
                 stages: Sequence[Tuple[nn.Module, nn.Module]] = ()) -> None:
        self.model = model
        self.family = family
        self.stages = list(stages)
        self.feats = None
        self.rois: Dict[int, Tensor] = {}
        self.cls_scores: Dict[int, Tensor] = {}
        self.roi_labels: Dict[int, Tensor] = {}
        self.dense_cls: Optional[List[Tensor]] = None
        self._last_rois: Optional[Tensor] = None
        self._handles = []

    def __enter__(self) -> 'OutputCapture':
        feat_module = self.model.neck if getattr(self.model, 'with_neck', False) \
            else self.model.backbone
        self._handles.append(feat_module.register_forward_hook(self._on_feats))
        if self.family == 'two_stage':
            for extractor in {id(e): e for e, _ in self.stages}.values():
                self._handles.append(extractor.register_forward_pre_hook(
                    self._on_rois, with_kwargs=True))
            for stage, (_, head) in enumerate(self.stages):
                self._handles.append(head.register_forward_hook(
                    functools.partial(self._on_bbox_head, stage)))
                if isinstance(getattr(head, 'loss_cls', None), nn.Module):
                    self._handles.append(head.loss_cls.register_forward_pre_hook(
                        functools.partial(self._on_roi_loss_cls, stage), with_kwargs=True))
        elif self.family == 'single_stage':
            self._handles.append(
                self.model.bbox_head.register_forward_hook(self._on_dense_head))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_feats(self, module, args, output) -> None:
        self.feats = output if isinstance(output, (tuple, list)) else (output, )

    def _on_rois(self, module, args, kwargs) -> None:
        self._last_rois = args[1] if len(args) > 1 else kwargs['rois']

    def _on_bbox_head(self, stage: int, module, args, output) -> None:
        if stage not in self.cls_scores:  # the loss pass; later calls are ignored
            self.cls_scores[stage] = output[0]
            self.rois[stage] = self._last_rois

    def _on_roi_loss_cls(self, stage: int, module, args, kwargs) -> None:
        if stage not in self.roi_labels:  # loss_cls(cls_score, labels, ...)
            self.roi_labels[stage] = args[1] if len(args) > 1 else kwargs['label']

    def _on_dense_head(self, module, args, output) -> None:
        if self.dense_cls is None:
            self.dense_cls = list(output[0])
