"""TST for mmdet detectors: two-stage (Faster / Mask R-CNN) and single-stage dense heads.

Distillation (``distill_losses``)
    The student's ordinary mmdet losses on ``[x'; x]`` (keys ``student.*``) plus the KD
    losses of the distiller's ``distill_losses``. Each entry's *name* says what it compares:

    * ``cls`` or ``cls_<anything>``: classification logits, for a logit loss such as
      ``tst_mm.KDLoss`` (``tau`` 1 in TST for detection).

      - Two-stage: the RoI head's class logits ``(R, C + 1)``. The student's own sampled RoIs
        (captured while it computes its loss) are fed through the *teacher's* bbox RoI head
        on the teacher's features, so both classify the same boxes.
      - Single-stage dense heads (RetinaNet, FCOS, ...): per-location classification maps.
        Sigmoid heads: each (location, anchor, class) score is a Bernoulli distribution,
        passed to the loss as the two logits ``[0, z]`` (their softmax is
        ``[1 - sigmoid(z), sigmoid(z)]``), so ``KDLoss`` computes the binary KL; the mean over
        locations of the KL *summed over classes* is returned (the loss's mean is multiplied
        by the number of classes). Softmax heads: the KL over the ``C + 1`` classes per
        location and anchor. Locations whose stride cell starts outside the image
        (``img_shape``), i.e. on padding, are left out through ``valid_mask``.
      - With the distiller's ``teacher_correct_only`` (two-stage only), RoIs of ``x'`` whose
        teacher argmax is not their class target (background included) are left out.
    * ``neck`` or ``neck_<anything>``: feature losses (``tst_mm.FeatureMSELoss``,
      ``tst_mm.ChannelWiseDivergenceLoss``) on each neck (FPN) level — or each backbone output
      without a neck — averaged over levels. Channel counts must match.

    Example::

        distill_losses=dict(
            cls=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.0),
            neck_mse=dict(type='tst_mm.FeatureMSELoss', normalize=True, loss_weight=1.0))

    logs ``distill.loss_cls`` and ``distill.loss_neck_mse``.

Search (``search_losses``)
    ``augment.loss_teacher``: the sum of the teacher's ordinary mmdet losses on ``x'``.
    ``augment.loss_weakness``: the sum of the student's losses on ``x'`` with every loss
    module swapped for its inverted form (:mod:`.detection_inversion`) during the call only.

The augmenter must run in ``geometric_mode='compose'`` so boxes and masks move with the pixels
(it refuses detection samples in ``'blend'`` mode when it has geometric ops).

Bad boxes
    mmdet's ``CocoDataset`` already drops zero-size annotations and boxes entirely outside
    their image when it loads the file, and its ``Resize`` clips boxes to the image by default.
    Boxes that still reach a step outside their ``img_shape`` (e.g. from a pipeline without
    clipping) are clipped to the image (ones left without area are dropped with their labels
    and masks) and the first such image is named in one warning per run.
"""
import inspect
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.logging import MMLogger
from torch import Tensor, nn

from ...augment.label_geometry import INSTANCE_FIELDS, clip_boxes_to_image
from .base import TaskAdapter, total_task_loss
from .detection_inversion import InvertedDetectionLosses

__all__ = ['DetectionAdapter', 'is_detector', 'KD_TARGETS']

#: Prefixes of ``distill_losses`` names and what they compare.
KD_TARGETS = ('cls', 'neck')


def is_detector(model: nn.Module) -> bool:
    """Whether ``model`` is an mmdet detector (``False`` when mmdet is not installed)."""
    try:
        from mmdet.models.detectors import BaseDetector
    except ImportError:
        return False
    return isinstance(model, BaseDetector)


def _family(model: nn.Module) -> str:
    """``'two_stage'`` or ``'single_stage'``; ``TypeError`` for other detectors."""
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    if isinstance(model, TwoStageDetector):
        roi_head = getattr(model, 'roi_head', None)
        bbox_head = getattr(roi_head, 'bbox_head', None)
        if not isinstance(bbox_head, nn.Module) or isinstance(bbox_head, nn.ModuleList) \
                or not hasattr(roi_head, '_bbox_forward'):
            raise TypeError(f'{type(model).__name__} has a {type(roi_head).__name__}; TST '
                            'distils two-stage detectors with one bbox head (StandardRoIHead '
                            'and its subclasses, e.g. Faster / Mask R-CNN), not cascades')
        return 'two_stage'
    if isinstance(model, SingleStageDetector):
        return 'single_stage'
    raise TypeError(f'{type(model).__name__} is neither a TwoStageDetector nor a '
                    'SingleStageDetector, which is what TST supports for detection')


def _num_classes(model: nn.Module) -> Optional[int]:
    head = model.roi_head.bbox_head if _family(model) == 'two_stage' else model.bbox_head
    return getattr(head, 'num_classes', None)


def _kd_target(name: str) -> str:
    target = name.split('_')[0]
    if target not in KD_TARGETS:
        raise ValueError(f'distill_losses entry {name!r}: a detection KD loss name must be '
                         f'one of {KD_TARGETS} or start with "<one of them>_" (e.g. "cls", '
                         '"neck_mse") to say what it compares')
    return target


class _Capture:
    """Record a detector's intermediate outputs while it computes its loss (forward hooks).

    Attributes:
        feats: The neck (or backbone) outputs.
        rois: Two-stage: the RoIs the bbox head classified.
        cls_score: Two-stage: ``(R, C + 1)`` class logits of those RoIs.
        roi_labels: Two-stage: ``(R,)`` class targets of those RoIs (``C`` for background),
            as the bbox head's classification loss received them.
        dense_cls: Single-stage: per-level classification maps.
    """

    def __init__(self, model: nn.Module, family: str) -> None:
        self.model = model
        self.family = family
        self.feats = None
        self.rois: Optional[Tensor] = None
        self.cls_score: Optional[Tensor] = None
        self.roi_labels: Optional[Tensor] = None
        self.dense_cls: Optional[List[Tensor]] = None
        self._last_rois: Optional[Tensor] = None
        self._handles = []

    def __enter__(self) -> '_Capture':
        feat_module = self.model.neck if getattr(self.model, 'with_neck', False) \
            else self.model.backbone
        self._handles.append(feat_module.register_forward_hook(self._on_feats))
        if self.family == 'two_stage':
            roi_head = self.model.roi_head
            self._handles.append(roi_head.bbox_roi_extractor.register_forward_pre_hook(
                self._on_rois, with_kwargs=True))
            self._handles.append(roi_head.bbox_head.register_forward_hook(self._on_bbox_head))
            if isinstance(roi_head.bbox_head.loss_cls, nn.Module):
                self._handles.append(roi_head.bbox_head.loss_cls.register_forward_pre_hook(
                    self._on_roi_loss_cls, with_kwargs=True))
        else:
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

    def _on_bbox_head(self, module, args, output) -> None:
        if self.cls_score is None:  # the loss pass; later calls (none in mmdet) are ignored
            self.cls_score = output[0]
            self.rois = self._last_rois

    def _on_roi_loss_cls(self, module, args, kwargs) -> None:
        if self.roi_labels is None:  # loss_cls(cls_score, labels, ...)
            self.roi_labels = args[1] if len(args) > 1 else kwargs['label']

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


def _roi_teacher_correct(teacher_cls: Tensor, capture: _Capture,
                         num_augmented: int) -> Tuple[Tensor, Tensor]:
    """Which RoIs the KD losses keep when only what the teacher gets right is taught.

    Returns:
        ``(keep, on_augmented)``, both ``(R,)`` bool: ``keep`` is ``False`` for RoIs of the
        first ``num_augmented`` images (``x'``) whose teacher argmax is not their class target
        (background included); ``on_augmented`` marks the RoIs of those images.
    """
    if capture.roi_labels is None:
        raise RuntimeError('teacher_correct_only: the student\'s RoI head computed no '
                           'classification loss, so the RoIs have no class targets to check')
    on_augmented = capture.rois[:, 0] < num_augmented
    correct = teacher_cls.argmax(dim=1) == capture.roi_labels
    return correct | ~on_augmented, on_augmented


def _takes(loss: nn.Module, argument: str) -> bool:
    return argument in inspect.signature(loss.forward).parameters


class DetectionAdapter(TaskAdapter):
    """Adapter for mmdet ``TwoStageDetector`` and ``SingleStageDetector`` models."""

    task = 'detection'

    def __init__(self) -> None:
        self._inverters: Dict[int, InvertedDetectionLosses] = {}
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
            if not is_detector(model):
                raise ValueError(f'the {role} is a {type(model).__name__}, not an mmdet '
                                 'detector; use a teacher of the same task')
        family, teacher_family = _family(student), _family(teacher)
        if family != teacher_family:
            raise ValueError(f'the student is a {family.replace("_", "-")} detector but the '
                             f'teacher is a {teacher_family.replace("_", "-")} one; TST '
                             'distils RoI-head logits between two-stage detectors and dense '
                             'maps between single-stage ones')
        num_student, num_teacher = _num_classes(student), _num_classes(teacher)
        if num_student != num_teacher:
            raise ValueError(f'teacher has {num_teacher} classes but student has {num_student}; '
                             'set the same num_classes in both heads')
        classes = [getattr(m, 'dataset_meta', None) or {} for m in (student, teacher)]
        if classes[0].get('classes') and classes[1].get('classes') \
                and tuple(classes[0]['classes']) != tuple(classes[1]['classes']):
            raise ValueError(f'teacher classes {tuple(classes[1]["classes"])} differ from '
                             f'student classes {tuple(classes[0]["classes"])}')
        if family == 'single_stage':
            self._check_dense_heads(student.bbox_head, teacher.bbox_head)
        InvertedDetectionLosses.check_supported(student)

    def check_augmenter(self, augmenter: nn.Module, student: nn.Module) -> None:
        """Refuse an augmenter that blends geometric ops: boxes cannot follow a blend."""
        from ...augment.op_table import GEOMETRIC, OP_TABLE
        geometric = [name for name in getattr(augmenter, 'op_names', [])
                     if name in OP_TABLE and OP_TABLE[name].kind == GEOMETRIC]
        if geometric and getattr(augmenter, 'geometric_mode', 'compose') != 'compose':
            raise ValueError(
                f"the augmenter blends the geometric ops {geometric} (geometric_mode="
                f"{augmenter.geometric_mode!r}), which boxes and masks cannot follow: set "
                "geometric_mode='compose' in the augmenter config for detection")

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
            raise ValueError('per-location KD needs dense heads with the same layout (strides, '
                             'priors per location, classification channels, sigmoid/softmax); '
                             f'student {student} vs teacher {teacher}')

    # ------------------------------------------------------------------ distillation
    def check_teacher_correct_only(self, student: nn.Module,
                                   distill_losses: Mapping[str, nn.Module]) -> None:
        if _family(student) != 'two_stage':
            raise ValueError('teacher_correct_only leaves out RoIs whose teacher class is wrong, '
                             'which needs a two-stage (RoI head) detector; dense heads have no '
                             'per-location class targets to check it against')
        without_mask = [name for name, loss in distill_losses.items()
                        if _kd_target(name) == 'cls' and not _takes(loss, 'valid_mask')]
        if without_mask:
            raise ValueError(f'teacher_correct_only leaves RoIs out through a valid_mask, which '
                             f'the distill_losses {without_mask} do not take; use tst_mm.KDLoss')

    def distill_losses(self, student: nn.Module, teacher: nn.Module, inputs: Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module],
                       num_augmented: int = 0, teacher_correct_only: bool = False
                       ) -> Dict[str, Tensor]:
        family = _family(student)
        targets = {name: _kd_target(name) for name in distill_losses or {}}
        data_samples = self._clipped(data_samples)
        with _Capture(student, family) as capture:
            student_losses = student.loss(inputs, data_samples)
        losses = {f'student.{key}': value for key, value in student_losses.items()}
        if not targets:
            return losses
        with torch.no_grad():
            teacher_feats = teacher.extract_feat(inputs)
            teacher_cls = None
            if 'cls' in targets.values():
                teacher_cls = self._teacher_cls(teacher, family, teacher_feats, capture)
        roi_mask = None
        if teacher_correct_only and num_augmented and teacher_cls is not None \
                and family == 'two_stage':
            roi_mask, on_augmented = _roi_teacher_correct(teacher_cls, capture, num_augmented)
            dropped = (~roi_mask & on_augmented).sum() / on_augmented.sum().clamp(min=1)
            losses['distill.dropped_aug'] = dropped.float()
        for name, loss in distill_losses.items():
            if targets[name] == 'neck':
                value = self._neck_kd(loss, capture.feats, teacher_feats)
            elif family == 'two_stage':
                value = self._call_logit_loss(name, loss, capture.cls_score, teacher_cls,
                                              roi_mask)
            else:
                value = self._dense_kd(name, loss, student.bbox_head, capture.dense_cls,
                                       teacher_cls, inputs, data_samples)
            losses[f'distill.loss_{name}'] = value
        return losses

    @staticmethod
    def _teacher_cls(teacher: nn.Module, family: str, feats, capture: _Capture):
        if family == 'two_stage':
            if capture.rois is None:
                raise RuntimeError('the student computed no RoI classification, so there is '
                                   'nothing to distil (is its roi_head a StandardRoIHead?)')
            return teacher.roi_head._bbox_forward(feats, capture.rois)['cls_score']
        return list(teacher.bbox_head(feats)[0])

    @staticmethod
    def _call_logit_loss(name: str, loss: nn.Module, student: Tensor, teacher: Tensor,
                         valid_mask: Optional[Tensor] = None) -> Tensor:
        if _takes(loss, 'labels'):
            raise ValueError(f'distill_losses entry {name!r} ({type(loss).__name__}) needs '
                             'class labels per prediction, which detection KD does not have; '
                             'use tst_mm.KDLoss')
        if valid_mask is not None and _takes(loss, 'valid_mask'):
            return loss(student, teacher, valid_mask=valid_mask)
        return loss(student, teacher)

    @staticmethod
    def _neck_kd(loss: nn.Module, student_feats, teacher_feats) -> Tensor:
        if student_feats is None or len(student_feats) != len(teacher_feats):
            raise ValueError(f'neck KD needs as many student as teacher levels, got '
                             f'{None if student_feats is None else len(student_feats)} and '
                             f'{len(teacher_feats)}')
        values = [loss(s, t) for s, t in zip(student_feats, teacher_feats)]
        return torch.stack([v.float() for v in values]).mean()

    def _dense_kd(self, name: str, loss: nn.Module, head: nn.Module,
                  student_maps: List[Tensor], teacher_maps: List[Tensor], inputs: Tensor,
                  data_samples: List) -> Tensor:
        if student_maps is None:
            raise RuntimeError('the student computed no classification maps to distil')
        priors = int(head.num_base_priors)
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
            return self._call_logit_loss(name, loss, student, teacher, mask)
        # Bernoulli per (class, anchor, place) as two logits [0, z]: dim 1 becomes {no, yes}.
        student = torch.stack([torch.zeros_like(student), student], dim=1)
        teacher = torch.stack([torch.zeros_like(teacher), teacher], dim=1)
        mask = mask.unsqueeze(1).expand(-1, channels, -1, -1)
        return channels * self._call_logit_loss(name, loss, student, teacher, mask)

    # ------------------------------------------------------------------ search
    def _inverter(self, weakness_loss: nn.Module) -> InvertedDetectionLosses:
        if isinstance(weakness_loss, InvertedDetectionLosses):
            return weakness_loss
        key = id(weakness_loss)
        if key not in self._inverters:
            self._inverters = {key: InvertedDetectionLosses(weakness=weakness_loss)}
        return self._inverters[key]

    def search_losses(self, student: nn.Module, teacher: nn.Module, inputs: Tensor,
                      data_samples: List, weakness_loss: nn.Module
                      ) -> Dict[str, Tensor]:
        data_samples = self._clipped(data_samples)
        teacher_loss = total_task_loss(teacher.loss(inputs, data_samples), 'detector')
        with self._inverter(weakness_loss).swapped(student):
            weakness = total_task_loss(student.loss(inputs, data_samples), 'detector')
        return {'augment.loss_teacher': teacher_loss, 'augment.loss_weakness': weakness}
