"""TST's search objective: what the augmenter minimises in a search step (the paper's form)."""
from typing import Dict, Optional

from torch import Tensor, nn

from tst_mm.registry import MODELS

from ..errors import ConfigError
from .evidence import LOGITS, STUDENT_INVERTED_LOSS, TEACHER_TASK_LOSS, SearchEvidence

__all__ = ['SearchObjective', 'PaperSearchObjective', 'check_weight']


def check_weight(name: str, value: float) -> float:
    """``value`` as a float, refused in one line (:class:`ConfigError`) if negative."""
    if not value >= 0:  # also refuses NaN
        raise ConfigError(f'search_objective: {name} must be >= 0, got {value}')
    return float(value)


class SearchObjective(nn.Module):
    """What a search step minimises, from the evidence the step offers.

    An objective declares the evidence it reads in :attr:`needs` (names of
    :mod:`tst_mm.search_objectives.evidence`); the distiller checks at build that the task
    adapter provides them (``TaskAdapter.provides``) and, at each search step, hands
    :meth:`forward` a :class:`~.evidence.SearchEvidence` that computes each piece on its first
    read. The objective returns its loss terms (keys with ``loss``, e.g.
    ``augment.loss_teacher`` and ``augment.loss_weakness``) and may add log-only values (keys
    without ``loss``, e.g. ``augment.gate_open``), which the search loops average per pass
    like the losses.
    """

    #: The evidence :meth:`forward` reads (see :mod:`~.evidence`); ``'double_backward'`` when
    #: backpropagating the loss differentiates the student's backward pass.
    needs = frozenset({LOGITS})

    def forward(self, evidence: SearchEvidence) -> Dict[str, Tensor]:
        """The objective's terms on ``x'``, from the evidence named in :attr:`needs`."""
        raise NotImplementedError


@MODELS.register_module()
class PaperSearchObjective(SearchObjective):
    r"""The authors' objective: :math:`w_t\,\mathrm{CE}_T(x') + w_w\,[-\log(1 - p_S(y \mid x'))]`.

    The teacher's task loss keeps ``x'`` recognisable to the teacher; the student's bounded
    inverted loss (``weakness_loss``, :class:`tst_mm.StudentWeaknessLoss` by default) makes it
    hard for the student. The two are not coupled: a sample both models get wrong lowers the
    weakness term as much as one only the student gets wrong. It is the default of
    ``tst_mm.TSTDistiller`` and every task offers what it reads: classification the
    cross-entropy of the teacher's logits and ``weakness_loss`` on the student's, detection and
    segmentation the teacher's task losses and the student's inverted task losses.

    Args:
        teacher_weight: :math:`w_t`, >= 0.
        weakness_weight: :math:`w_w`, >= 0.
        weakness_loss: Config of the student's inverted loss.
    """

    #: Every task offers its teacher's task loss and its student's inverted one.
    needs = frozenset({TEACHER_TASK_LOSS, STUDENT_INVERTED_LOSS})

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

    def forward(self, evidence: SearchEvidence) -> Dict[str, Tensor]:
        """The teacher's task loss and the student's task loss inverted with
        ``weakness_loss``, weighted (see :meth:`SearchObjective.forward`)."""
        loss_teacher = evidence[TEACHER_TASK_LOSS]
        return self.weigh(loss_teacher, evidence[STUDENT_INVERTED_LOSS](self.weakness_loss))

    def extra_repr(self) -> str:
        """Show the weights in ``repr``."""
        return f'teacher_weight={self.teacher_weight}, weakness_weight={self.weakness_weight}'
