"""What a search step offers its objective: named evidence, each piece computed when first read.

A task adapter says which evidence its search steps can offer (``TaskAdapter.provides``) and
supplies it (``TaskAdapter.search_evidence``); the distiller adds what only it knows (the
held-out batch and the student's parameters: :data:`VIRTUAL_STEP`). A search objective says
what it reads (``SearchObjective.needs``), the distiller checks at build that the adapter
provides it, and the objective alone turns the evidence into the policy's loss.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping

from torch import Tensor, nn

__all__ = [
    'LOGITS', 'CLEAN_TEACHER_LOGITS', 'TEACHER_TASK_LOSS', 'STUDENT_INVERTED_LOSS',
    'VIRTUAL_STEP', 'DOUBLE_BACKWARD', 'EVIDENCE', 'ClassLogits', 'InvertedTaskLoss',
    'SearchEvidence'
]

#: :class:`ClassLogits` of teacher and student on ``x'`` (with gradients to ``x'``).
LOGITS = 'logits'
#: ``(N, C)`` teacher logits on the clean batch ``x`` (no gradients); the labels are those of
#: :data:`LOGITS`, so only a task whose augmenter keeps each sample's label offers it.
CLEAN_TEACHER_LOGITS = 'clean_teacher_logits'
#: The teacher's task loss on ``x'``, a scalar with gradients to ``x'``.
TEACHER_TASK_LOSS = 'teacher_task_loss'
#: An :data:`InvertedTaskLoss`: the student's task loss on ``x'``, inverted.
STUDENT_INVERTED_LOSS = 'student_inverted_loss'
#: A :class:`~.student_lookahead.VirtualStep`: the run's distillation loss under other
#: student parameters, on ``[x'; x]`` of one half of the batch and on the other, held-out
#: half (the distiller splits the batch for objectives that need it).
VIRTUAL_STEP = 'virtual_step'
#: Not evidence but a property of the task's models: backpropagating through the student's
#: backward pass works (mmcv's ops have no double backward).
DOUBLE_BACKWARD = 'double_backward'
#: Every name an objective can need.
EVIDENCE = (LOGITS, CLEAN_TEACHER_LOGITS, TEACHER_TASK_LOSS, STUDENT_INVERTED_LOSS,
            VIRTUAL_STEP, DOUBLE_BACKWARD)

#: ``weakness_loss -> loss``: the student's own task loss on ``x'`` with its classification
#: terms inverted, where ``weakness_loss`` (e.g. :class:`tst_mm.StudentWeaknessLoss`) is the
#: objective's inverted form of a class-probability loss. How the task's loss is inverted is
#: the adapter's way of producing this evidence: classification applies ``weakness_loss`` to
#: the student's logits, segmentation to its decode head's per-pixel logits, detection swaps
#: every loss module of the student for its inverted form
#: (:class:`tst_mm.InvertedDetectionLosses`) while it computes its loss.
InvertedTaskLoss = Callable[[nn.Module], Tensor]


@dataclass
class ClassLogits:
    """Class logits of teacher and student on ``x'`` and the labels.

    Attributes:
        teacher: ``(N, C)`` teacher logits on ``x'``.
        student: ``(N, C)`` student logits on ``x'``.
        labels: ``(N,)`` class indices.
    """

    teacher: Tensor
    student: Tensor
    labels: Tensor


class SearchEvidence(Mapping):
    """Named evidence of one search step, each piece computed on its first read.

    Args:
        sources: Name -> function of this evidence returning the piece (it may read other
            pieces); only the ones read are computed, in the order they are read.
    """

    def __init__(self, sources: Mapping[str, Callable[['SearchEvidence'], Any]]) -> None:
        self._sources = dict(sources)
        self._values: Dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            if name not in self._sources:
                raise KeyError(f'this search step offers no {name!r} evidence (it offers '
                               f'{sorted(self._sources)})')
            self._values[name] = self._sources[name](self)
        return self._values[name]

    def __iter__(self):
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)
