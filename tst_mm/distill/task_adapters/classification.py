"""TST for mmpretrain image classifiers."""
from typing import Dict, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...augment.mixing import check_mixing_student
from ...registry import TASK_ADAPTERS
from ...search_objectives import SearchObjective
from .base import TaskAdapter, call_distill_loss, is_instance_of

__all__ = ['ClassificationAdapter', 'augmented_diagnostics']


def _logits(classifier: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return classifier.head(classifier.extract_feat(inputs))


def _labels(data_samples: List) -> torch.Tensor:
    return torch.cat([sample.gt_label for sample in data_samples])


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

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        """mmpretrain image classifiers."""
        return is_instance_of(model, 'mmpretrain.models.classifiers', 'ImageClassifier')

    def check_compatible(self, student: nn.Module, teacher: nn.Module) -> None:
        num_student = getattr(student.head, 'num_classes', None)
        num_teacher = getattr(teacher.head, 'num_classes', None)
        if num_student != num_teacher:
            raise ValueError(f'teacher has {num_teacher} classes but student has {num_student}; '
                             'set the same head.num_classes in both configs')

    def check_augmenter(self, augmenter: nn.Module, student: nn.Module) -> None:
        """Give an augmenter with mixing ops the number of classes of its mixed targets
        (from the student's head), and refuse a head that computes accuracies in training
        (mmpretrain's ``ClsHead`` cannot with soft targets)."""
        super().check_augmenter(augmenter, student)
        if getattr(augmenter, 'mixes', False):
            check_mixing_student(student)
            augmenter.set_num_classes(student.head.num_classes)

    def distill_losses(self, student: nn.Module, teacher: nn.Module, inputs: torch.Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module],
                       num_augmented: int = 0, teacher_correct_only: bool = False
                       ) -> Dict[str, torch.Tensor]:
        student_logits = _logits(student, inputs)
        losses = {f'student.{key}': value
                  for key, value in student.head._get_loss(student_logits, data_samples).items()}
        if not distill_losses:
            return losses
        with torch.no_grad():
            teacher_logits = _logits(teacher, inputs)
        labels = _labels(data_samples)
        keep = slice(None)
        if num_augmented:
            aug = slice(0, num_augmented)
            losses.update(augmented_diagnostics(student_logits[aug], teacher_logits[aug],
                                                labels[aug]))
            if teacher_correct_only:
                keep = torch.ones_like(labels, dtype=torch.bool)
                keep[aug] = teacher_logits[aug].argmax(dim=1) == labels[aug]
                losses['distill.dropped_aug'] = 1.0 - keep[aug].float().mean()
        for name, loss in distill_losses.items():
            losses[f'distill.loss_{name}'] = call_distill_loss(
                loss, student_logits[keep], teacher_logits[keep], labels[keep])
        return losses

    def search_losses(self, student: nn.Module, teacher: nn.Module, inputs: torch.Tensor,
                      data_samples: List, weakness_loss: nn.Module
                      ) -> Dict[str, torch.Tensor]:
        labels = _labels(data_samples)
        return {
            'augment.loss_teacher': F.cross_entropy(_logits(teacher, inputs), labels),
            'augment.loss_weakness': weakness_loss(_logits(student, inputs), labels),
        }

    def check_search_objective(self, objective: SearchObjective) -> None:
        """Every search objective works on class logits."""
        return None

    def search_objective_losses(self, student: nn.Module, teacher: nn.Module,
                                inputs: torch.Tensor, data_samples: List,
                                objective: SearchObjective,
                                clean_inputs: Optional[torch.Tensor] = None
                                ) -> Dict[str, torch.Tensor]:
        """The objective on the logits of teacher and student on ``x'`` (and of the teacher
        on ``x`` when the objective asks for them)."""
        teacher_clean = None
        if objective.needs_clean_teacher:
            if clean_inputs is None:
                raise ValueError(f'{type(objective).__name__} needs the clean batch')
            with torch.no_grad():
                teacher_clean = _logits(teacher, clean_inputs)
        teacher_logits = _logits(teacher, inputs)
        return objective(teacher_logits, _logits(student, inputs), _labels(data_samples),
                         teacher_clean)
