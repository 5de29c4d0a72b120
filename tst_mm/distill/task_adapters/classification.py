"""TST for mmpretrain image classifiers."""
from typing import Dict, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...augment.mixing import check_mixing_student
from ...errors import ConfigError
from ...losses.extra_inputs import call_loss
from ...registry import TASK_ADAPTERS
from ...search_objectives import ClassLogits, SearchEvidence
from ...search_objectives.evidence import (
    CLEAN_TEACHER_LOGITS,
    DOUBLE_BACKWARD,
    LOGITS,
    STUDENT_INVERTED_LOSS,
    TEACHER_TASK_LOSS,
)
from .base import (
    TASK_LOSS_EVIDENCE,
    EvidenceSource,
    TaskAdapter,
    is_instance_of,
    teacher_context,
)

__all__ = ['ClassificationAdapter', 'augmented_diagnostics']


def _logits(classifier: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return classifier.head(classifier.extract_feat(inputs))


def _labels(data_samples: List) -> torch.Tensor:
    return torch.cat([sample.gt_label for sample in data_samples])


def _weighted_mean(loss_aug: torch.Tensor, loss_clean: torch.Tensor, num_aug: int,
                   num_clean: int, weight: torch.Tensor) -> torch.Tensor:
    """The mean of two batch-mean losses with the ``num_aug`` augmented samples weighted by
    ``weight`` and the ``num_clean`` clean ones by 1."""
    return ((weight * num_aug) * loss_aug + num_clean * loss_clean) / (weight * num_aug +
                                                                       num_clean)


@torch.no_grad()
def augmented_diagnostics(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                          labels: torch.Tensor) -> Dict[str, torch.Tensor]:
    """How teacher and student do on the augmented samples ``x'`` (log variables, no grad).

    Returns:
        ``diag.{teacher,student}_top1_aug`` (share of ``x'`` classified right) and
        ``diag.{teacher,student}_py_aug`` (mean probability of the true class), in ``[0, 1]``.
    """
    out = {}
    for role, logits in (('teacher', teacher_logits), ('student', student_logits)):
        out[f'diag.{role}_top1_aug'] = (logits.argmax(dim=1) == labels).float().mean()
        out[f'diag.{role}_py_aug'] = torch.softmax(logits.float(), dim=1).gather(
            1, labels[:, None]).mean()
    return out


@TASK_ADAPTERS.register_module()
class ClassificationAdapter(TaskAdapter):
    """Adapter for ``mmpretrain.models.ImageClassifier`` students and teachers.

    With ``teacher_correct_only``, the KD losses leave out the augmented samples whose
    teacher argmax is not the label (they are averaged over the samples kept); the student's
    cross-entropy still sees every sample.
    """

    task = 'classification'
    compares_choices = ('logits', )
    provides = TASK_LOSS_EVIDENCE | {LOGITS, CLEAN_TEACHER_LOGITS, DOUBLE_BACKWARD}
    weighs_x_prime = True

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        """mmpretrain image classifiers."""
        return is_instance_of(model, 'mmpretrain.models.classifiers', 'ImageClassifier')

    def check_compatible(self, teacher: nn.Module) -> None:
        num_student = getattr(self.student.head, 'num_classes', None)
        num_teacher = getattr(teacher.head, 'num_classes', None)
        if num_student != num_teacher:
            raise ConfigError(f'teacher has {num_teacher} classes but student has {num_student}; '
                              'set the same head.num_classes in both configs')

    @classmethod
    def check_augmenter(cls, augmenter: nn.Module, student: nn.Module) -> None:
        """Give an augmenter with mixing ops the number of classes of its mixed targets
        (from the student's head), and refuse a head that computes accuracies in training
        (mmpretrain's ``ClsHead`` cannot with soft targets)."""
        super().check_augmenter(augmenter, student)
        if getattr(augmenter, 'mixes', False):
            check_mixing_student(student)
            augmenter.set_num_classes(student.head.num_classes)

    def distill_losses(self, teacher: nn.Module, inputs: torch.Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module],
                       num_augmented: int = 0, teacher_correct_only: bool = False,
                       teacher_grad: bool = False,
                       x_prime_weight: Optional[torch.Tensor] = None
                       ) -> Dict[str, torch.Tensor]:
        """See :meth:`TaskAdapter.distill_losses`. With ``x_prime_weight`` :math:`\alpha`,
        each loss is :math:`(\alpha n' L(x') + n L(x)) / (\alpha n' + n)` over the ``n'``
        augmented and ``n`` clean samples (the plain mean at :math:`\alpha = 1`, plain KD on
        ``x`` at :math:`\alpha = 0`)."""
        student = self.student
        student_logits = _logits(student, inputs)
        labels = _labels(data_samples)
        weighted = x_prime_weight is not None and 0 < num_augmented < len(labels)
        if weighted:
            aug, clean = slice(0, num_augmented), slice(num_augmented, None)
            losses = {f'student.{key}': _weighted_mean(
                value, student.head._get_loss(student_logits[clean], data_samples[clean])[key],
                num_augmented, len(labels) - num_augmented, x_prime_weight)
                for key, value in student.head._get_loss(student_logits[aug],
                                                         data_samples[aug]).items()}
        else:
            losses = {f'student.{key}': value for key, value in
                      student.head._get_loss(student_logits, data_samples).items()}
        if not distill_losses:
            return losses
        with teacher_context(teacher_grad):
            teacher_logits = _logits(teacher, inputs)
        keep = torch.ones_like(labels, dtype=torch.bool)
        if num_augmented:
            aug = slice(0, num_augmented)
            losses.update(augmented_diagnostics(student_logits[aug], teacher_logits[aug],
                                                labels[aug]))
            if teacher_correct_only:
                keep[aug] = teacher_logits[aug].argmax(dim=1) == labels[aug]
                losses['distill.dropped_aug'] = 1.0 - keep[aug].float().mean()
        # every row kept: a slice, as before (no host sync without teacher_correct_only)
        keep_all = not (num_augmented and teacher_correct_only) or bool(keep.all())
        if weighted:  # the rows of each side, and their counts, once for every loss
            is_aug = torch.arange(len(labels), device=labels.device) < num_augmented
            kept_aug, clean_rows = keep & is_aug, ~is_aug
            num_kept, num_clean = int(kept_aug.sum()), int(clean_rows.sum())
        for name, loss in distill_losses.items():
            if not weighted:
                rows = slice(None) if keep_all else keep
                losses[f'distill.loss_{name}'] = call_loss(
                    loss, student_logits[rows], teacher_logits[rows], labels=labels[rows])
                continue
            value = call_loss(loss, student_logits[clean_rows], teacher_logits[clean_rows],
                              labels=labels[clean_rows])
            if num_kept:
                value = _weighted_mean(
                    call_loss(loss, student_logits[kept_aug], teacher_logits[kept_aug],
                              labels=labels[kept_aug]),
                    value, num_kept, num_clean, x_prime_weight)
            losses[f'distill.loss_{name}'] = value
        return losses

    def search_evidence(self, teacher: nn.Module, inputs: torch.Tensor,
                        data_samples: List, clean_inputs: Optional[torch.Tensor] = None
                        ) -> Dict[str, EvidenceSource]:
        """The logits of teacher and student on ``x'`` (and of the teacher on ``x``); the
        teacher's task loss is its cross-entropy on ``x'``, the student's inverted loss the
        weakness loss on its logits."""
        labels = _labels(data_samples)

        def clean_teacher_logits(evidence: SearchEvidence) -> torch.Tensor:
            if clean_inputs is None:
                raise ValueError('the teacher\'s logits on x need the clean batch')
            with torch.no_grad():
                return _logits(teacher, clean_inputs)

        return {
            LOGITS: lambda evidence: ClassLogits(_logits(teacher, inputs),
                                                 _logits(self.student, inputs), labels),
            CLEAN_TEACHER_LOGITS: clean_teacher_logits,
            TEACHER_TASK_LOSS: lambda evidence: F.cross_entropy(evidence[LOGITS].teacher, labels),
            STUDENT_INVERTED_LOSS: lambda evidence: (
                lambda weakness_loss: weakness_loss(evidence[LOGITS].student, labels)),
        }
