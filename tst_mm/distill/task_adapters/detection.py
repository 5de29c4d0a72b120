"""TST for mmdet detectors: two-stage (Faster / Mask / Cascade R-CNN), single-stage dense
heads (RetinaNet, FCOS, ATSS, GFL, TOOD, YOLOX, RTMDet, ...) and the DETR family (DINO, ...).

Distillation (``distill_losses``)
    The student's ordinary mmdet losses on ``[x'; x]`` (keys ``student.*``) plus the KD
    losses of the distiller's ``distill_losses``. Each entry's ``compares`` field says what it
    compares (by default the word its name starts with):

    * ``compares='cls'`` (names ``cls``, ``cls_<anything>``): classification logits, for a
      logit loss such as ``tst_mm.KDLoss`` (``tau`` 1 in TST for detection).

      - Two-stage: the RoI head's class logits ``(R, C + 1)``. The student's own sampled RoIs
        (captured while it computes its loss) are fed through the *teacher's* bbox RoI head
        on the teacher's features, so both classify the same boxes. Cascade R-CNN: every
        stage, each on the RoIs the student's stage classified, averaged with the cascade's
        ``stage_loss_weights``.
      - Single-stage dense heads (RetinaNet, FCOS, ATSS, GFL, TOOD, YOLOX, RTMDet):
        per-location classification maps. Sigmoid heads: each (location, anchor, class) score
        is a Bernoulli distribution, passed to the loss as the two logits ``[0, z]`` (their
        softmax is ``[1 - sigmoid(z), sigmoid(z)]``), so ``KDLoss`` computes the binary KL;
        the mean over locations of the KL *summed over classes* is returned (the loss's mean
        is multiplied by the number of classes). Heads whose maps are probabilities (TOOD,
        ``activated`` losses) are turned back into logits first. Softmax heads: the KL over
        the ``C + 1`` classes per location and anchor. Locations whose stride cell starts
        outside the image (``img_shape``), i.e. on padding, are left out through
        ``valid_mask``. YOLOX: the class scores only (not the objectness).
      - With the distiller's ``teacher_correct_only`` (two-stage only), RoIs of ``x'`` whose
        teacher argmax is not their class target (background included) are left out (each
        cascade stage against its own targets).
      - DETR family: refused at build. Each model matches its own queries to the objects
        inside its loss, so a teacher query and a student query do not stand for the same
        thing; ``neck`` losses and the search work.
    * ``compares='neck'`` (names ``neck``, ``neck_<anything>``): feature losses
      (``tst_mm.FeatureMSELoss``, ``tst_mm.ChannelWiseDivergenceLoss``) on each neck (FPN)
      level — or each backbone output without a neck — averaged over levels. Channel counts
      must match.

    Example::

        distill_losses=dict(
            cls=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.0),
            fpn=dict(type='tst_mm.FeatureMSELoss', normalize=True, compares='neck'))

    logs ``distill.loss_cls`` and ``distill.loss_fpn``.

Search (``search_evidence``)
    The teacher's task loss: the sum of the teacher's ordinary mmdet losses on ``x'``.
    The student's inverted loss: the sum of the student's losses on ``x'`` with every loss
    module swapped for its inverted form (:mod:`tst_mm.losses.inverted_detection_losses`)
    during the call only: the inversion is how detection produces this evidence.

The augmenter must run in ``geometric_mode='compose'`` when it has geometric ops, so boxes and
masks move with the pixels (``labels_follow_pixels``; checked by the base adapter).

Bad boxes
    mmdet's ``CocoDataset`` already drops zero-size annotations and boxes entirely outside
    their image when it loads the file, and its ``Resize`` clips boxes to the image by default.
    Boxes that still reach a step outside their ``img_shape`` (e.g. from a pipeline without
    clipping) are clipped to the image (ones left without area are dropped with their labels
    and masks) and the first such image is named in one warning per run.
"""
import contextlib
import functools
import inspect
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.logging import MMLogger
from torch import Tensor, nn

from ...augment.label_geometry import INSTANCE_FIELDS, clip_boxes_to_image
from ...errors import ConfigError, UnsupportedModelError
from ...losses.extra_inputs import LABELS, VALID_MASK, takes
from ...losses.inverted_detection_losses import InvertedDetectionLosses
from ...registry import TASK_ADAPTERS
from ...search_objectives import SearchEvidence
from ...search_objectives.evidence import STUDENT_INVERTED_LOSS, TEACHER_TASK_LOSS
from .base import (
    TASK_LOSS_EVIDENCE,
    EvidenceSource,
    TaskAdapter,
    is_instance_of,
    teacher_context,
    total_task_loss,
)

__all__ = ['DetectionAdapter']


def _family(model: nn.Module) -> str:
    """``'two_stage'``, ``'single_stage'`` or ``'query'`` (DETR family);
    ``UnsupportedModelError`` for other detectors."""
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    from mmdet.models.detectors.base_detr import DetectionTransformer
    if isinstance(model, TwoStageDetector):
        roi_stages(model)  # refuses RoI heads TST cannot distil
        return 'two_stage'
    if isinstance(model, SingleStageDetector):
        return 'single_stage'
    if isinstance(model, DetectionTransformer):
        return 'query'
    raise UnsupportedModelError(f'{type(model).__name__} is neither a TwoStageDetector, a '
                                'SingleStageDetector nor a DETR-family DetectionTransformer, '
                                'which is what TST supports for detection')


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


def _teacher_roi_logits(roi_head: nn.Module, stage: int, feats, rois: Tensor) -> Tensor:
    """The class logits of the teacher's RoI head at ``stage`` for the given RoIs."""
    if isinstance(roi_head.bbox_head, nn.ModuleList):
        return roi_head._bbox_forward(stage, feats, rois)['cls_score']
    return roi_head._bbox_forward(feats, rois)['cls_score']


def _stage_weights(model: nn.Module) -> List[float]:
    """Weights of the RoI head stages in KD: the cascade's ``stage_loss_weights``."""
    stages = len(roi_stages(model))
    weights = getattr(model.roi_head, 'stage_loss_weights', None) or [1.0] * stages
    return [float(w) for w in weights]


def _head(model: nn.Module) -> nn.Module:
    """The classifying head: the (last) RoI bbox head or the dense / query head."""
    if _family(model) == 'two_stage':
        return roi_stages(model)[-1][1]
    return model.bbox_head


def _num_classes(model: nn.Module) -> Optional[int]:
    return getattr(_head(model), 'num_classes', None)


def _num_priors(head: nn.Module) -> int:
    """Priors (anchors or points) per location of a dense head."""
    priors = getattr(head, 'num_base_priors', None)
    if priors is None:  # e.g. YOLOX: one point per location
        priors = head.prior_generator.num_base_priors[0]
    return int(priors)


def _outputs_probabilities(head: nn.Module) -> bool:
    """Whether a dense head's classification maps are probabilities (TOOD), not logits."""
    return bool(getattr(getattr(head, 'loss_cls', None), 'activated', False))


class _Capture:
    """Record a detector's intermediate outputs while it computes its loss (forward hooks).

    Attributes:
        feats: The neck (or backbone) outputs.
        rois: Two-stage: per RoI-head stage, the RoIs its bbox head classified.
        cls_scores: Two-stage: per stage, ``(R, C + 1)`` class logits of those RoIs.
        roi_labels: Two-stage: per stage, ``(R,)`` class targets of those RoIs (``C`` for
            background), as the bbox head's classification loss received them.
        dense_cls: Single-stage: per-level classification maps.
    """

    def __init__(self, model: nn.Module, family: str) -> None:
        self.model = model
        self.family = family
        self.feats = None
        self.rois: Dict[int, Tensor] = {}
        self.cls_scores: Dict[int, Tensor] = {}
        self.roi_labels: Dict[int, Tensor] = {}
        self.dense_cls: Optional[List[Tensor]] = None
        self._last_rois: Optional[Tensor] = None
        self._handles = []

    def __enter__(self) -> '_Capture':
        feat_module = self.model.neck if getattr(self.model, 'with_neck', False) \
            else self.model.backbone
        self._handles.append(feat_module.register_forward_hook(self._on_feats))
        if self.family == 'two_stage':
            stages = roi_stages(self.model)
            for extractor in {id(e): e for e, _ in stages}.values():
                self._handles.append(extractor.register_forward_pre_hook(
                    self._on_rois, with_kwargs=True))
            for stage, (_, head) in enumerate(stages):
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


def _valid_locations(data_samples: Sequence, shape: Tuple[int, int],
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


def _boxes_outside(samples: Sequence) -> List[int]:
    """Indices of samples with a box outside its ``img_shape`` or without area."""
    rows, limits, owners = [], [], []
    for i, sample in enumerate(samples):
        shape = sample.metainfo.get('img_shape')
        for name in INSTANCE_FIELDS:
            instances = sample.get(name) if shape is not None else None
            if instances is None or 'bboxes' not in instances or len(instances) == 0:
                continue
            boxes = instances.bboxes
            boxes = getattr(boxes, 'tensor', boxes)
            rows.append(boxes.float())
            limits.append(boxes.new_tensor([float(shape[1]), float(shape[0])],
                                           dtype=torch.float32).expand(len(boxes), 2))
            owners.extend([i] * len(boxes))
    if not rows:
        return []
    boxes, limit = torch.cat(rows), torch.cat(limits)
    tol = 1e-3
    bad = (boxes[:, :2] < -tol).any(1) | (boxes[:, 2:] > limit + tol).any(1)
    bad |= (boxes[:, 2] - boxes[:, 0] <= 0) | (boxes[:, 3] - boxes[:, 1] <= 0)
    if not bool(bad.any()):
        return []
    return sorted({owners[j] for j in torch.nonzero(bad).view(-1).tolist()})


def _roi_teacher_correct(teacher_cls: List[Tensor], capture: _Capture,
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


def _own_instances(samples: Sequence) -> List:
    """Shallow copies of the samples, each with instance containers of its own.

    Some mmdet heads replace fields of ``gt_instances`` while they compute their loss
    (RTMDet-Ins turns its masks into a tensor), which would change the samples under the next
    model that reads them (the student after the teacher in a search step).
    """
    return [sample.new(**{name: value.new() if name in INSTANCE_FIELDS else value
                          for name, value in sample.items()}) for sample in samples]


@contextlib.contextmanager
def _loss_mode(model: nn.Module) -> Iterator[None]:
    """Let an eval-mode DETR-family detector compute its training loss.

    DINO / Deformable DETR build what their loss needs (encoder proposals, denoising queries)
    only when the detector itself is in training mode. The frozen teacher and the student of
    a search step stay in eval mode (normalisation statistics, dropout): only the detector's
    own flag is set, for the call.
    """
    if model.training or _family(model) != 'query':
        yield
        return
    model.training = True
    try:
        yield
    finally:
        model.training = False


@TASK_ADAPTERS.register_module()
class DetectionAdapter(TaskAdapter):
    """Adapter for mmdet two-stage, single-stage and DETR-family detectors."""

    task = 'detection'
    labels_follow_pixels = True
    compares_choices = ('cls', 'neck')
    provides = TASK_LOSS_EVIDENCE

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        """mmdet detectors."""
        return is_instance_of(model, 'mmdet.models.detectors', 'BaseDetector')

    def __init__(self) -> None:
        super().__init__()
        self._warned_boxes = False

    def _clipped(self, data_samples: List) -> List:
        """The samples, with boxes outside their image clipped (one warning per run)."""
        bad = _boxes_outside(data_samples)
        if not bad:
            return data_samples
        if not self._warned_boxes:
            sample = data_samples[bad[0]]
            MMLogger.get_current_instance().warning(
                f'{sample.metainfo.get("img_path", "an image")}: annotation boxes outside the '
                f'image (img_shape {tuple(sample.metainfo["img_shape"])[:2]}) or without '
                'area; TST clips them to the image and drops empty ones (with their labels '
                'and masks). Warned once; check the annotation file or add clipping to the '
                'pipeline.')
            self._warned_boxes = True
        samples = list(data_samples)
        for i in bad:
            samples[i] = clip_boxes_to_image(samples[i])
        return samples

    # ------------------------------------------------------------------ checks
    def check_compatible(self, student: nn.Module, teacher: nn.Module) -> None:
        for role, model in (('student', student), ('teacher', teacher)):
            if not self.matches(model):
                raise UnsupportedModelError(f'the {role} is a {type(model).__name__}, not an mmdet '
                                            'detector; use a teacher of the same task')
        family, teacher_family = _family(student), _family(teacher)
        if family != teacher_family:
            raise ConfigError(f'the student is a {family.replace("_", "-")} detector but the '
                              f'teacher is a {teacher_family.replace("_", "-")} one; TST '
                              'distils RoI-head logits between two-stage detectors and dense '
                              'maps between single-stage ones')
        num_student, num_teacher = _num_classes(student), _num_classes(teacher)
        if num_student != num_teacher:
            raise ConfigError(f'teacher has {num_teacher} classes but student has {num_student}; '
                              'set the same num_classes in both heads')
        classes = [getattr(m, 'dataset_meta', None) or {} for m in (student, teacher)]
        if classes[0].get('classes') and classes[1].get('classes') \
                and tuple(classes[0]['classes']) != tuple(classes[1]['classes']):
            raise ConfigError(f'teacher classes {tuple(classes[1]["classes"])} differ from '
                              f'student classes {tuple(classes[0]["classes"])}')
        if family == 'single_stage':
            self._check_dense_heads(student.bbox_head, teacher.bbox_head)
        if family == 'two_stage' and len(roi_stages(student)) != len(roi_stages(teacher)):
            raise ConfigError(f'the student\'s RoI head has {len(roi_stages(student))} stages '
                              f'but the teacher\'s {len(roi_stages(teacher))}; TST distils '
                              'each stage\'s class logits into the same stage')
        InvertedDetectionLosses.check_supported(student)

    def check_teacher_classes(self, teacher_classes: Tuple[str, ...],
                              dataset_classes: Tuple[str, ...]) -> None:
        """Refuse a teacher checkpoint that names other classes than the dataset: a detector's
        class indices are the dataset's order, which the checkpoint must share."""
        if teacher_classes == dataset_classes:
            return
        differ = [f'{index}: {t!r} vs {s!r}' for index, (t, s)
                  in enumerate(zip(teacher_classes, dataset_classes)) if t != s]
        raise ConfigError(
            f'the teacher checkpoint was trained on other classes than the training dataset '
            f'({len(teacher_classes)} vs {len(dataset_classes)} classes; first differences, '
            f'teacher vs dataset: {", ".join(differ[:3]) or "the extra ones"}); use a teacher '
            'of this dataset or set the dataset\'s metainfo classes in its order')

    def check_teacher_correct_only(self, student: nn.Module,
                                   distill_losses: Mapping[str, nn.Module]) -> None:
        if _family(student) != 'two_stage':
            raise ConfigError('teacher_correct_only leaves out RoIs whose teacher class is wrong, '
                              'which needs a two-stage (RoI head) detector; dense heads have no '
                              'per-location class targets to check it against')
        without_mask = [name for name, loss in distill_losses.items()
                        if self.compares(name) == 'cls' and not takes(loss, VALID_MASK)]
        if without_mask:
            raise ConfigError(f'teacher_correct_only leaves RoIs out through a valid_mask, which '
                              f'the distill_losses {without_mask} do not take; use tst_mm.KDLoss')

    def check_distill_losses(self, student: nn.Module, distill_losses: Mapping[str, nn.Module]
                             ) -> None:
        """Refuse, before training, KD losses that cannot compare the output they name."""
        family = _family(student)
        for name, loss in distill_losses.items():
            compared = self.compares(name)
            if compared == 'cls' and family == 'query':
                raise ConfigError(
                    f'distill_losses entry {name!r}: {type(student.bbox_head).__name__} '
                    '(DETR family) matches its queries to objects inside its loss, so teacher '
                    'and student queries do not correspond and TST cannot distil their class '
                    "scores correctly; use feature losses (compares='neck') for this detector")
            if compared == 'cls' and takes(loss, LABELS):
                raise ConfigError(f'distill_losses entry {name!r} ({type(loss).__name__}) needs '
                                  'class labels per prediction, which detection KD does not '
                                  'have; use tst_mm.KDLoss')

    @staticmethod
    def _check_dense_heads(student_head: nn.Module, teacher_head: nn.Module) -> None:
        def layout(head):
            generator = getattr(head, 'prior_generator', None)
            strides = [tuple(s) if isinstance(s, (tuple, list)) else (s, s)
                       for s in getattr(generator, 'strides', [])]
            return dict(strides=strides,
                        num_base_priors=getattr(head, 'num_base_priors', None),
                        cls_out_channels=getattr(head, 'cls_out_channels', None),
                        use_sigmoid_cls=getattr(head, 'use_sigmoid_cls', None))
        student, teacher = layout(student_head), layout(teacher_head)
        if student != teacher:
            raise ConfigError('per-location KD needs dense heads with the same layout (strides, '
                              'priors per location, classification channels, sigmoid/softmax); '
                              f'student {student} vs teacher {teacher}')

    # ------------------------------------------------------------------ distillation
    def distill_losses(self, student: nn.Module, teacher: nn.Module, inputs: Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module],
                       num_augmented: int = 0, teacher_correct_only: bool = False,
                       teacher_grad: bool = False, x_prime_weight: Optional[Tensor] = None
                       ) -> Dict[str, Tensor]:
        family = _family(student)
        compares = {name: self.compares(name) for name in distill_losses or {}}
        data_samples = self._clipped(data_samples)
        with _Capture(student, family) as capture:
            student_losses = student.loss(inputs, _own_instances(data_samples))
        losses = {f'student.{key}': value for key, value in student_losses.items()}
        if not compares:
            return losses
        with teacher_context(teacher_grad):
            teacher_feats = teacher.extract_feat(inputs)
            teacher_cls = None
            if 'cls' in compares.values():
                teacher_cls = self._teacher_cls(teacher, family, teacher_feats, capture)
        roi_masks = [None] * len(teacher_cls or [])
        if teacher_correct_only and num_augmented and teacher_cls is not None \
                and family == 'two_stage':
            roi_masks, dropped = _roi_teacher_correct(teacher_cls, capture, num_augmented)
            losses['distill.dropped_aug'] = torch.as_tensor(dropped).float()
        for name, loss in distill_losses.items():
            if compares[name] == 'neck':
                value = self._neck_kd(loss, capture.feats, teacher_feats)
            elif family == 'two_stage':
                weights = _stage_weights(student)
                value = sum(w * self._call_logit_loss(loss, capture.cls_scores[stage],
                                                      teacher_cls[stage], roi_masks[stage])
                            for stage, w in enumerate(weights)) / sum(weights)
            else:
                value = self._dense_kd(loss, student.bbox_head, capture.dense_cls,
                                       teacher_cls, inputs, data_samples)
            losses[f'distill.loss_{name}'] = value
        return losses

    @staticmethod
    def _teacher_cls(teacher: nn.Module, family: str, feats, capture: _Capture):
        """Two-stage: per stage, the teacher's logits of the student's RoIs; single-stage:
        the teacher's classification maps."""
        if family == 'two_stage':
            if len(capture.cls_scores) != len(roi_stages(teacher)):
                raise RuntimeError('the student classified RoIs in '
                                   f'{len(capture.cls_scores)} of its '
                                   f'{len(roi_stages(teacher))} RoI-head stages, so there is '
                                   'nothing to distil for the others')
            return [_teacher_roi_logits(teacher.roi_head, stage, feats, capture.rois[stage])
                    for stage in range(len(capture.cls_scores))]
        return list(teacher.bbox_head(feats)[0])

    @staticmethod
    def _call_logit_loss(loss: nn.Module, student: Tensor, teacher: Tensor,
                         valid_mask: Optional[Tensor] = None) -> Tensor:
        if valid_mask is not None and takes(loss, VALID_MASK):
            return loss(student, teacher, valid_mask=valid_mask)
        return loss(student, teacher)

    @staticmethod
    def _neck_kd(loss: nn.Module, student_feats, teacher_feats) -> Tensor:
        if student_feats is None or len(student_feats) != len(teacher_feats):
            raise ConfigError(f'neck KD needs as many student as teacher levels, got '
                              f'{None if student_feats is None else len(student_feats)} and '
                              f'{len(teacher_feats)}')
        values = [loss(s, t) for s, t in zip(student_feats, teacher_feats)]
        return torch.stack([v.float() for v in values]).mean()

    def _dense_kd(self, loss: nn.Module, head: nn.Module, student_maps: List[Tensor],
                  teacher_maps: List[Tensor], inputs: Tensor, data_samples: List) -> Tensor:
        if student_maps is None:
            raise RuntimeError('the student computed no classification maps to distil')
        priors = _num_priors(head)
        channels = int(head.cls_out_channels)
        batch_shape = tuple(inputs.shape[-2:])
        students, teachers, masks = [], [], []
        for s_map, t_map in zip(student_maps, teacher_maps):
            n, _, h, w = s_map.shape
            valid = _valid_locations(data_samples, (h, w), batch_shape, s_map.device)
            # (N, A*C, H, W) -> (N, C, A, H*W): class dimension 1, anchors and places after it
            students.append(s_map.view(n, priors, channels, h * w).transpose(1, 2))
            teachers.append(t_map.view(n, priors, channels, h * w).transpose(1, 2))
            masks.append(valid.view(n, 1, h * w).expand(n, priors, h * w))
        student = torch.cat(students, dim=-1)
        teacher = torch.cat(teachers, dim=-1)
        mask = torch.cat(masks, dim=-1)
        if not head.use_sigmoid_cls:
            return self._call_logit_loss(loss, student, teacher, mask)
        if _outputs_probabilities(head):  # TOOD: back to logits, sigmoid(logit(p)) = p
            student, teacher = torch.logit(student, eps=1e-6), torch.logit(teacher, eps=1e-6)
        # Bernoulli per (class, anchor, place) as two logits [0, z]: dim 1 becomes {no, yes}.
        student = torch.stack([torch.zeros_like(student), student], dim=1)
        teacher = torch.stack([torch.zeros_like(teacher), teacher], dim=1)
        mask = mask.unsqueeze(1).expand(-1, channels, -1, -1)
        return channels * self._call_logit_loss(loss, student, teacher, mask)

    # ------------------------------------------------------------------ search
    def search_evidence(self, student: nn.Module, teacher: nn.Module, inputs: Tensor,
                        data_samples: List, clean_inputs: Optional[Tensor] = None
                        ) -> Dict[str, EvidenceSource]:
        """The teacher's mmdet losses on ``x'``; the student's inverted loss: its own losses
        with every loss module swapped for its inverted form (:class:`InvertedDetectionLosses`,
        the policy given as the weakness loss, or the default one around it)."""

        @functools.lru_cache(maxsize=None)
        def clipped() -> List:
            return self._clipped(data_samples)

        def teacher_task_loss(evidence: SearchEvidence) -> Tensor:
            with _loss_mode(teacher):
                return total_task_loss(teacher.loss(inputs, _own_instances(clipped())),
                                       'detector')

        def student_inverted(weakness_loss: nn.Module) -> Tensor:
            inverter = InvertedDetectionLosses.around(weakness_loss)
            with inverter.swapped(student), _loss_mode(student):
                return total_task_loss(student.loss(inputs, _own_instances(clipped())),
                                       'detector')

        return {TEACHER_TASK_LOSS: teacher_task_loss,
                STUDENT_INVERTED_LOSS: lambda evidence: student_inverted}
