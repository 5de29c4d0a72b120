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
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from ....errors import ConfigError, UnsupportedModelError
from ....losses.extra_inputs import LABELS, VALID_MASK, call_loss, takes
from ....losses.inverted_detection_losses import InvertedDetectionLosses
from ....registry import TASK_ADAPTERS
from ....search_objectives import SearchEvidence
from ....search_objectives.evidence import STUDENT_INVERTED_LOSS, TEACHER_TASK_LOSS
from ..base import (
    TASK_LOSS_EVIDENCE,
    EvidenceSource,
    TaskAdapter,
    is_instance_of,
    teacher_context,
    total_task_loss,
)
from .boxes import BoxClipper, own_instances
from .capture import OutputCapture
from .dense_heads import DenseLayout, check_dense_heads, dense_kd
from .family import classifying_head, detector_family, loss_mode
from .roi import roi_stages, roi_teacher_correct, stage_weights, teacher_roi_logits

__all__ = ['DetectionAdapter']


@TASK_ADAPTERS.register_module()
class DetectionAdapter(TaskAdapter):
    """Adapter for mmdet two-stage, single-stage and DETR-family detectors.

    Bound to its student: the detector's family, its RoI-head stages and their KD weights
    (two-stage) and its dense head's layout (single-stage, when a KD loss compares its class
    maps) are read once, when the distiller is built.
    """

    task = 'detection'
    labels_follow_pixels = True
    compares_choices = ('cls', 'neck')
    provides = TASK_LOSS_EVIDENCE

    def __init__(self, student: nn.Module,
                 compares: Optional[Mapping[str, Optional[str]]] = None) -> None:
        super().__init__(student, compares)
        #: ``'two_stage'``, ``'single_stage'`` or ``'query'``.
        self.family = detector_family(student)
        #: Two-stage: ``(bbox_roi_extractor, bbox_head)`` of each RoI-head stage.
        self.stages = roi_stages(student) if self.family == 'two_stage' else []
        #: Two-stage: the weight of each stage in KD (the cascade's ``stage_loss_weights``).
        self.stage_weights = stage_weights(student, len(self.stages)) if self.stages else []
        #: Single-stage with a KD loss on the class maps: what that KD reads of the head.
        self.dense_layout = (DenseLayout.of(student.bbox_head)
                             if self.family == 'single_stage'
                             and 'cls' in self._compares.values() else None)
        #: Clips boxes outside their image, warning once.
        self.clip_boxes = BoxClipper()

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        """mmdet detectors."""
        return is_instance_of(model, 'mmdet.models.detectors', 'BaseDetector')

    def capture(self) -> OutputCapture:
        """A recorder of the student's intermediate outputs while it computes its loss."""
        return OutputCapture(self.student, self.family, self.stages)

    # ------------------------------------------------------------------ checks
    def check_compatible(self, teacher: nn.Module) -> None:
        student, family = self.student, self.family
        if not self.matches(teacher):
            raise UnsupportedModelError(f'the teacher is a {type(teacher).__name__}, not an mmdet '
                                        'detector; use a teacher of the same task')
        teacher_family = detector_family(teacher)
        if family != teacher_family:
            raise ConfigError(f'the student is a {family.replace("_", "-")} detector but the '
                              f'teacher is a {teacher_family.replace("_", "-")} one; TST '
                              'distils RoI-head logits between two-stage detectors and dense '
                              'maps between single-stage ones')
        num_student = getattr(classifying_head(student, family, self.stages), 'num_classes', None)
        num_teacher = getattr(classifying_head(teacher, family), 'num_classes', None)
        if num_student != num_teacher:
            raise ConfigError(f'teacher has {num_teacher} classes but student has {num_student}; '
                              'set the same num_classes in both heads')
        classes = [getattr(m, 'dataset_meta', None) or {} for m in (student, teacher)]
        if classes[0].get('classes') and classes[1].get('classes') \
                and tuple(classes[0]['classes']) != tuple(classes[1]['classes']):
            raise ConfigError(f'teacher classes {tuple(classes[1]["classes"])} differ from '
                              f'student classes {tuple(classes[0]["classes"])}')
        if family == 'single_stage':
            check_dense_heads(student.bbox_head, teacher.bbox_head)
        if family == 'two_stage' and len(self.stages) != len(roi_stages(teacher)):
            raise ConfigError(f'the student\'s RoI head has {len(self.stages)} stages '
                              f'but the teacher\'s {len(roi_stages(teacher))}; TST distils '
                              'each stage\'s class logits into the same stage')
        InvertedDetectionLosses.check_supported(student)

    @classmethod
    def check_teacher_classes(cls, teacher_classes: Tuple[str, ...],
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

    def check_teacher_correct_only(self, distill_losses: Mapping[str, nn.Module]) -> None:
        if self.family != 'two_stage':
            raise ConfigError('teacher_correct_only leaves out RoIs whose teacher class is wrong, '
                              'which needs a two-stage (RoI head) detector; dense heads have no '
                              'per-location class targets to check it against')
        without_mask = [name for name, loss in distill_losses.items()
                        if self.compares(name) == 'cls' and not takes(loss, VALID_MASK)]
        if without_mask:
            raise ConfigError(f'teacher_correct_only leaves RoIs out through a valid_mask, which '
                              f'the distill_losses {without_mask} do not take; use tst_mm.KDLoss')

    def check_distill_losses(self, distill_losses: Mapping[str, nn.Module]) -> None:
        """Refuse, before training, KD losses that cannot compare the output they name."""
        for name, loss in distill_losses.items():
            compared = self.compares(name)
            if compared == 'cls' and self.family == 'query':
                raise ConfigError(
                    f'distill_losses entry {name!r}: {type(self.student.bbox_head).__name__} '
                    '(DETR family) matches its queries to objects inside its loss, so teacher '
                    'and student queries do not correspond and TST cannot distil their class '
                    "scores correctly; use feature losses (compares='neck') for this detector")
            if compared == 'cls' and takes(loss, LABELS):
                raise ConfigError(f'distill_losses entry {name!r} ({type(loss).__name__}) needs '
                                  'class labels per prediction, which detection KD does not '
                                  'have; use tst_mm.KDLoss')

    # ------------------------------------------------------------------ distillation
    def distill_losses(self, teacher: nn.Module, inputs: Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module],
                       num_augmented: int = 0, teacher_correct_only: bool = False,
                       teacher_grad: bool = False, x_prime_weight: Optional[Tensor] = None
                       ) -> Dict[str, Tensor]:
        compares = {name: self.compares(name) for name in distill_losses or {}}
        data_samples = self.clip_boxes(data_samples)
        with self.capture() as capture:
            student_losses = self.student.loss(inputs, own_instances(data_samples))
        losses = {f'student.{key}': value for key, value in student_losses.items()}
        if not compares:
            return losses
        with teacher_context(teacher_grad):
            teacher_feats = teacher.extract_feat(inputs)
            teacher_cls = None
            if 'cls' in compares.values():
                teacher_cls = self._teacher_cls(teacher, teacher_feats, capture)
        roi_masks = [None] * len(teacher_cls or [])
        if teacher_correct_only and num_augmented and teacher_cls is not None \
                and self.family == 'two_stage':
            roi_masks, dropped = roi_teacher_correct(teacher_cls, capture, num_augmented)
            losses['distill.dropped_aug'] = torch.as_tensor(dropped).float()
        for name, loss in distill_losses.items():
            if compares[name] == 'neck':
                value = self._neck_kd(loss, capture.feats, teacher_feats)
            elif self.family == 'two_stage':
                weights = self.stage_weights
                value = sum(w * call_loss(loss, capture.cls_scores[stage], teacher_cls[stage],
                                          valid_mask=roi_masks[stage])
                            for stage, w in enumerate(weights)) / sum(weights)
            else:
                value = dense_kd(loss, self.dense_layout or DenseLayout.of(self.student.bbox_head),
                                 capture.dense_cls, teacher_cls, inputs, data_samples)
            losses[f'distill.loss_{name}'] = value
        return losses

    def _teacher_cls(self, teacher: nn.Module, feats, capture: OutputCapture) -> List[Tensor]:
        """Two-stage: per stage, the teacher's logits of the student's RoIs; single-stage:
        the teacher's classification maps."""
        if self.family == 'two_stage':
            if len(capture.cls_scores) != len(self.stages):
                raise RuntimeError('the student classified RoIs in '
                                   f'{len(capture.cls_scores)} of its '
                                   f'{len(self.stages)} RoI-head stages, so there is '
                                   'nothing to distil for the others')
            return [teacher_roi_logits(teacher.roi_head, stage, feats, capture.rois[stage])
                    for stage in range(len(capture.cls_scores))]
        return list(teacher.bbox_head(feats)[0])

    @staticmethod
    def _neck_kd(loss: nn.Module, student_feats, teacher_feats) -> Tensor:
        if student_feats is None or len(student_feats) != len(teacher_feats):
            raise ConfigError(f'neck KD needs as many student as teacher levels, got '
                              f'{None if student_feats is None else len(student_feats)} and '
                              f'{len(teacher_feats)}')
        values = [loss(s, t) for s, t in zip(student_feats, teacher_feats)]
        return torch.stack([v.float() for v in values]).mean()

    # ------------------------------------------------------------------ search
    def search_evidence(self, teacher: nn.Module, inputs: Tensor,
                        data_samples: List, clean_inputs: Optional[Tensor] = None
                        ) -> Dict[str, EvidenceSource]:
        """The teacher's mmdet losses on ``x'``; the student's inverted loss: its own losses
        with every loss module swapped for its inverted form (:class:`InvertedDetectionLosses`,
        the policy given as the weakness loss, or the default one around it)."""
        samples = []  # clipped once, when first needed

        def clipped() -> List:
            if not samples:
                samples.append(self.clip_boxes(data_samples))
            return own_instances(samples[0])

        def teacher_task_loss(evidence: SearchEvidence) -> Tensor:
            with loss_mode(teacher, self.family):
                return total_task_loss(teacher.loss(inputs, clipped()), 'detector')

        def student_inverted(weakness_loss: nn.Module) -> Tensor:
            inverter = InvertedDetectionLosses.around(weakness_loss)
            with inverter.swapped(self.student), loss_mode(self.student, self.family):
                return total_task_loss(self.student.loss(inputs, clipped()), 'detector')

        return {TEACHER_TASK_LOSS: teacher_task_loss,
                STUDENT_INVERTED_LOSS: lambda evidence: student_inverted}
