"""TST's search objective: what the augmenter minimises in a search step (the paper's form)."""
from typing import Dict, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from tst_mm.registry import MODELS

from ..errors import ConfigError

__all__ = ['SearchObjective', 'PaperSearchObjective', 'check_weight']


def check_weight(name: str, value: float) -> float:
    """``value`` as a float, refused in one line (:class:`ConfigError`) if negative."""
    if not value >= 0:  # also refuses NaN
        raise ConfigError(f'search_objective: {name} must be >= 0, got {value}')
    return float(value)


class SearchObjective(nn.Module):
    """What a search step minimises, from the logits of teacher and student on ``x'``.

    A search objective returns two loss terms, ``augment.loss_teacher`` (what keeps ``x'``
    teachable) and ``augment.loss_weakness`` (what makes ``x'`` teach the student something),
    and may add log-only values (keys without ``loss``, e.g. ``augment.gate_open``), which the
    search loops average per pass like the losses.

    A task adapter calls it with the logits of the whole batch: ``(N, C)`` for classification.
    Objectives that set :attr:`needs_clean_teacher` also get the teacher's logits on the clean
    batch ``x`` (computed without gradients; the labels are shared, so this only serves
    tasks whose augmenter keeps a sample's label, i.e. classification).
    """

    #: What a search step must offer the objective; the distiller checks at build that its
    #: task adapter provides it (``TaskAdapter.provides``): ``'logits'`` (class logits of
    #: teacher and student on ``x'``), ``'virtual_step'`` (the student's losses under other
    #: parameters, :class:`~.student_lookahead.VirtualStep`), ``'double_backward'``.
    needs = frozenset({'logits'})
    #: Whether :meth:`forward` needs the teacher's logits on the clean batch.
    needs_clean_teacher: bool = False

    def forward(self, teacher_logits: Tensor, student_logits: Tensor, labels: Tensor,
                teacher_clean_logits: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The objective's terms on ``x'``.

        Args:
            teacher_logits: ``(N, C)`` teacher logits on ``x'`` (with gradients to ``x'``).
            student_logits: ``(N, C)`` student logits on ``x'`` (with gradients to ``x'``).
            labels: ``(N,)`` class indices.
            teacher_clean_logits: ``(N, C)`` teacher logits on ``x`` when
                :attr:`needs_clean_teacher`, else ``None``.

        Returns:
            ``augment.loss_teacher``, ``augment.loss_weakness`` and any log-only values.
        """
        raise NotImplementedError


@MODELS.register_module()
class PaperSearchObjective(SearchObjective):
    r"""The authors' objective: :math:`w_t\,\mathrm{CE}_T(x') + w_w\,[-\log(1 - p_S(y \mid x'))]`.

    The teacher's task loss keeps ``x'`` recognisable to the teacher; the student's bounded
    inverted loss (``weakness_loss``, :class:`tst_mm.StudentWeaknessLoss` by default) makes it
    hard for the student. The two are not coupled: a sample both models get wrong lowers the
    weakness term as much as one only the student gets wrong. It is the default of
    ``tst_mm.TSTDistiller`` and the only objective detection and segmentation take, where
    the terms are the teacher's task losses and the student's inverted task losses; there the
    adapter computes the terms and :meth:`weigh` weighs them.

    Args:
        teacher_weight: :math:`w_t`, >= 0.
        weakness_weight: :math:`w_w`, >= 0.
        weakness_loss: Config of the student's inverted loss.
    """

    #: Every task computes the two terms from its own losses.
    needs = frozenset()

    def __init__(self, teacher_weight: float = 1.0, weakness_weight: float = 1.0,
                 weakness_loss: Optional[dict] = None) -> None:
        super().__init__()
        self.teacher_weight = check_weight('teacher_weight', teacher_weight)
        self.weakness_weight = check_weight('weakness_weight', weakness_weight)
        self.weakness_loss = MODELS.build(weakness_loss or dict(type='tst_mm.StudentWeaknessLoss'))

    def weigh(self, loss_teacher: Tensor, loss_weakness: Tensor) -> Dict[str, Tensor]:
        """The two terms, weighted, under the keys the search step logs."""
        return {'augment.loss_teacher': loss_teacher * self.teacher_weight,
                'augment.loss_weakness': loss_weakness * self.weakness_weight}

    def forward(self, teacher_logits: Tensor, student_logits: Tensor, labels: Tensor,
                teacher_clean_logits: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """See :meth:`SearchObjective.forward`."""
        return self.weigh(F.cross_entropy(teacher_logits, labels),
                          self.weakness_loss(student_logits, labels))

    def extra_repr(self) -> str:
        """Show the weights in ``repr``."""
        return f'teacher_weight={self.teacher_weight}, weakness_weight={self.weakness_weight}'
