"""What the distiller needs from a task: logits to distil, task losses, the search objective."""
import contextlib
import importlib
from abc import ABCMeta, abstractmethod
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ...augment.label_rules import LabelRule
from ...errors import ConfigError
from ...search_objectives import SearchEvidence, SearchObjective
from ...search_objectives.evidence import (
    DOUBLE_BACKWARD,
    STUDENT_INVERTED_LOSS,
    TEACHER_TASK_LOSS,
    VIRTUAL_STEP,
)

__all__ = ['TaskAdapter', 'EvidenceSource', 'is_instance_of', 'teacher_context',
           'total_task_loss', 'TASK_LOSS_EVIDENCE']

#: A function of a search step's evidence computing one piece of it.
EvidenceSource = Callable[[SearchEvidence], Any]
#: What every built-in task offers: its own losses on ``x'`` (the teacher's, the student's
#: inverted) and its distillation losses under other student parameters.
TASK_LOSS_EVIDENCE = frozenset({TEACHER_TASK_LOSS, STUDENT_INVERTED_LOSS, VIRTUAL_STEP})


def teacher_context(teacher_grad: bool) -> contextlib.AbstractContextManager:
    """Where the teacher runs in a distillation loss: without gradients, as a distillation
    step has it, or (``teacher_grad``) with gradients to its input, for a search objective
    that differentiates the distillation loss with respect to ``x'``."""
    return contextlib.nullcontext() if teacher_grad else torch.no_grad()


def is_instance_of(model: nn.Module, module: str, class_name: str) -> bool:
    """Whether ``model`` is an instance of ``module.class_name``, ``False`` when that package
    cannot be imported (what an adapter's :meth:`TaskAdapter.matches` usually asks)."""
    try:
        base = getattr(importlib.import_module(module), class_name)
    except ImportError:
        return False
    return isinstance(model, base)


def total_task_loss(losses: Mapping[str, Union[torch.Tensor, Sequence[torch.Tensor]]],
                    model: str) -> torch.Tensor:
    """Sum of the loss terms (keys containing ``loss``) of an OpenMMLab loss dict.

    Each tensor (or each tensor of a list, e.g. per FPN level) is averaged first, as mmengine's
    ``parse_losses`` does when it trains the model, so a loss configured with
    ``reduction='none'`` weighs as much here as in training.

    Not ``BaseModel.parse_losses`` itself: that sums the same terms in another order (key by
    key, left to right), which moves the detection search losses in their last bit; runs
    cached before would then no longer match.

    Args:
        losses: What a model's ``loss()`` returned.
        model: What returned it, for the error message (e.g. ``'detector'``).

    Raises:
        RuntimeError: If no key names a loss.
    """
    terms = []
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        values = [value] if isinstance(value, torch.Tensor) else value
        terms.extend(item.mean().float() for item in values)
    if not terms:
        raise RuntimeError(f'the {model} returned no loss terms (keys: {sorted(losses)})')
    return torch.stack(terms).sum()


class TaskAdapter(metaclass=ABCMeta):
    """Task-specific parts of TST, kept out of the task-agnostic distiller.

    An adapter is bound when the distiller is built to its student and to what each KD loss
    compares (the ``compares`` field of each ``distill_losses`` entry); what it derives from
    them (a detector's family and RoI stages, a segmentor's heads) is computed once, there.
    The teacher, built when training first uses it, and the KD loss modules are passed to
    each step. Rules of the task that need no model (:meth:`matches`,
    :meth:`check_augmenter`, :meth:`check_teacher_classes`, :meth:`check_search_objective`)
    are class methods.

    Args:
        student: The student model.
        compares: ``distill_losses`` entry name -> its ``compares`` field, or ``None`` for
            the default: the only output of a task that has one, else the word the name
            starts with (``'cls'`` for ``cls`` or ``cls_kl``).

    Raises:
        ConfigError: If an output is not one of :attr:`compares_choices`, or a name says
            none.
    """

    #: Name of the task, used in messages.
    task: str = ''
    #: Whether the task's labels (boxes, masks, label maps) move with the pixels, so that the
    #: augmenter must compose its geometric ops (:meth:`check_augmenter`).
    labels_follow_pixels: bool = False
    #: The outputs a KD loss can compare (values of ``compares``); the first is the example.
    compares_choices: Tuple[str, ...] = ()
    #: What a search step of this task can offer a search objective (its ``needs``;
    #: :mod:`tst_mm.search_objectives.evidence`): the distiller builds ``'virtual_step'`` from
    #: any adapter's :meth:`distill_losses`, :meth:`search_evidence` produces the rest.
    provides: frozenset = frozenset({VIRTUAL_STEP})
    #: Whether :meth:`distill_losses` takes a weight of ``x'`` (``x_prime_weight``).
    weighs_x_prime: bool = False

    def __init__(self, student: nn.Module,
                 compares: Optional[Mapping[str, Optional[str]]] = None) -> None:
        self.student = student
        self._compares: Dict[str, str] = {
            name: self._checked_compares(name, output)
            for name, output in (compares or {}).items()}

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        """Whether this adapter handles ``model`` (a built student or teacher); the distiller
        takes the first registered adapter that does."""
        return False

    def compares(self, name: str) -> str:
        """The output the KD loss ``name`` compares (its ``compares`` field, or the default
        for its name)."""
        if name in self._compares:
            return self._compares[name]
        return self._checked_compares(name, None)

    def _checked_compares(self, name: str, output: Optional[str]) -> str:
        if output is None and len(self.compares_choices) == 1:
            return self.compares_choices[0]
        if output is None:
            output = name.split('_')[0]
            if output not in self.compares_choices:
                raise ConfigError(
                    f'distill_losses entry {name!r}: say which {self.task} output it compares '
                    f'with compares=<one of {self.compares_choices}> in the entry, or start '
                    f'its name with one of them (e.g. "{self.compares_choices[0]}" or '
                    f'"{self.compares_choices[0]}_kl")')
        elif output not in self.compares_choices:
            raise ConfigError(f'distill_losses entry {name!r}: compares={output!r} is not a '
                              f'{self.task} output; use one of {self.compares_choices}')
        return output

    @abstractmethod
    def check_compatible(self, teacher: nn.Module) -> None:
        """Raise a ``ConfigError`` with a one-line reason if the student cannot be distilled
        from ``teacher`` (built, or a skeleton without weights)."""

    def check_distill_losses(self, distill_losses: Mapping[str, nn.Module]) -> None:
        """Raise a ``ConfigError`` with a one-line reason if a KD loss cannot be computed for
        this student (default: any can)."""
        return None

    @classmethod
    def check_augmenter(cls, augmenter: nn.Module, student: nn.Module) -> None:
        """Raise a ``ConfigError`` if the augmenter cannot serve this task: for a task whose
        labels follow the pixels, one that blends geometric ops (the augmenter's own
        ``check_labels_can_follow``)."""
        check = getattr(augmenter, 'check_labels_can_follow', None)
        if cls.labels_follow_pixels and check is not None:
            check()

    def label_rules(self) -> Dict[str, LabelRule]:
        """The task's rules for its warped labels, which the augmenter asks for
        (``LearnableAugmenter.follow_task``): rule name (:mod:`tst_mm.augment.label_rules`)
        -> :class:`~tst_mm.augment.label_rules.LabelRule` (default: none, the augmenter's
        settings or defaults apply)."""
        return {}

    @classmethod
    def check_teacher_classes(cls, teacher_classes: Tuple[str, ...],
                              dataset_classes: Tuple[str, ...]) -> None:
        """Raise ``ConfigError`` if the teacher checkpoint's class names (known once it is
        loaded) cannot teach on the training dataset's (default: names are not compared)."""
        return None

    def check_teacher_correct_only(self, distill_losses: Mapping[str, nn.Module]) -> None:
        """Raise a ``ConfigError`` if the KD losses cannot leave out what the teacher gets
        wrong."""
        return None

    @abstractmethod
    def distill_losses(self, teacher: nn.Module, inputs: torch.Tensor,
                       data_samples: List, distill_losses: Mapping[str, nn.Module],
                       num_augmented: int = 0, teacher_correct_only: bool = False,
                       teacher_grad: bool = False,
                       x_prime_weight: Optional[torch.Tensor] = None
                       ) -> Dict[str, torch.Tensor]:
        """Student task losses (``student.`` keys) and KD losses (``distill.`` keys).

        Args:
            teacher: The teacher.
            inputs: The batch ``[x'; x]``; its first ``num_augmented`` samples are ``x'``.
            data_samples: Their data samples.
            distill_losses: The KD losses by name.
            num_augmented: How many samples at the front of the batch are augmented.
            teacher_correct_only: Leave out of the KD losses the parts of ``x'`` the teacher
                gets wrong (samples, RoIs or pixels, by task), and log their share as
                ``distill.dropped_aug``.
            teacher_grad: Run the teacher with gradients to its input (:func:`teacher_context`).
            x_prime_weight: Weight of the ``x'`` samples against the clean ones (``None``: the
                plain mean over the batch); only adapters with :attr:`weighs_x_prime`.
        """

    @abstractmethod
    def search_evidence(self, teacher: nn.Module, inputs: torch.Tensor,
                        data_samples: List, clean_inputs: Optional[torch.Tensor] = None
                        ) -> Dict[str, EvidenceSource]:
        """How a search step of this task produces each evidence it provides.

        The distiller wraps the result in a :class:`~tst_mm.search_objectives.SearchEvidence`
        (adding :data:`~tst_mm.search_objectives.evidence.VIRTUAL_STEP`, which it builds from
        :meth:`distill_losses`) and hands it to the search objective, which reads what it
        needs; a piece is computed on its first read, in the order the objective reads them.

        Args:
            teacher: The teacher (student and teacher are frozen; gradients flow to the
                inputs).
            inputs: The augmented batch ``x'``.
            data_samples: Its data samples.
            clean_inputs: The batch ``x`` before augmentation.

        Returns:
            Evidence name (:attr:`provides`, without ``'virtual_step'`` and
            ``'double_backward'``) -> function of the evidence computing it.
        """

    @classmethod
    def check_search_objective(cls, objective: SearchObjective) -> None:
        """Raise a ``ConfigError`` if this task cannot offer what the objective needs
        (its ``needs`` not within :attr:`provides`)."""
        missing = sorted(set(objective.needs) - set(cls.provides))
        if missing:
            hint = ("use estimator='finite_difference'" if missing == [DOUBLE_BACKWARD]
                    else 'use tst_mm.PaperSearchObjective or tst_mm.StudentLookahead')
            raise ConfigError(f'{cls.task} cannot give the search objective '
                              f'{type(objective).__name__} what it needs ({", ".join(missing)}); '
                              f'{hint}')
