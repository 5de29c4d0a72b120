"""TST for mmpretrain image classifiers."""
from typing import Dict, List, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .base import TaskAdapter, call_distill_loss

__all__ = ['ClassificationAdapter']


def _logits(classifier: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return classifier.head(classifier.extract_feat(inputs))


def _labels(data_samples: List) -> torch.Tensor:
    return torch.cat([sample.gt_label for sample in data_samples])


class ClassificationAdapter(TaskAdapter):
    """Adapter for ``mmpretrain.models.ImageClassifier`` students and teachers."""

    task = 'classification'

    def check_compatible(self, student: nn.Module, teacher: nn.Module) -> None:
        num_student = getattr(student.head, 'num_classes', None)
        num_teacher = getattr(teacher.head, 'num_classes', None)
        if num_student != num_teacher:
            raise ValueError(f'teacher has {num_teacher} classes but student has {num_student}; '
                             'set the same head.num_classes in both configs')

    def distill_losses(self, student: nn.Module, teacher: nn.Module, inputs: torch.Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module]
                       ) -> Dict[str, torch.Tensor]:
        student_logits = _logits(student, inputs)
        losses = {f'student.{key}': value
                  for key, value in student.head._get_loss(student_logits, data_samples).items()}
        if distill_losses:
            with torch.no_grad():
                teacher_logits = _logits(teacher, inputs)
            labels = _labels(data_samples)
            for name, loss in distill_losses.items():
                losses[f'distill.loss_{name}'] = call_distill_loss(
                    loss, student_logits, teacher_logits, labels)
        return losses

    def search_losses(self, student: nn.Module, teacher: nn.Module, inputs: torch.Tensor,
                      data_samples: List, weakness_loss: nn.Module
                      ) -> Dict[str, torch.Tensor]:
        labels = _labels(data_samples)
        return {
            'augment.loss_teacher': F.cross_entropy(_logits(teacher, inputs), labels),
            'augment.loss_weakness': weakness_loss(_logits(student, inputs), labels),
        }
