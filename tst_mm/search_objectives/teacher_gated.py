"""A search objective that only asks for student weakness where the teacher is right."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from tst_mm.registry import MODELS

from ..errors import check_choice
from .base import SearchObjective, check_weight
from .evidence import CLEAN_TEACHER_LOGITS, LOGITS, SearchEvidence

__all__ = ['TeacherGatedObjective']

GATES = ('argmax', 'prob')


@MODELS.register_module()
class TeacherGatedObjective(SearchObjective):
    r"""Student weakness on the ``x'`` the teacher gets right; a hinge on the teacher's loss.

    Per sample :math:`i` with gate :math:`g_i` (no gradient),

    .. math::
        L_\mathrm{weakness} = \frac{\sum_i g_i\,[-\log(1 - p_S(y_i \mid x'_i))]}{\sum_i g_i},
        \qquad
        L_\mathrm{teacher} = \frac{\lambda}{N} \sum_i
            \mathrm{relu}\big(\mathrm{CE}_T(x'_i) - \mathrm{CE}_T(x_i) - \delta\big),

    where :math:`g_i = [\arg\max_c T(x'_i)_c = y_i]` (``gate='argmax'``) or the teacher's
    :math:`p_T(y_i \mid x'_i)` (``gate='prob'``). The paper's objective lowers its weakness
    term as much on a sample both models get wrong as on one only the student gets wrong, and
    its teacher term trades against it at every step; here a sample the teacher gets wrong
    adds nothing to the weakness term, and the teacher term only acts where ``x'_i`` became
    harder for the teacher than the clean ``x_i`` by more than :math:`\delta`. Nothing rewards
    making the teacher wrong: the gate carries no gradient and the weakness term is a mean
    over the open gates, so closing one does not lower it.

    Args:
        hinge_weight: :math:`\lambda`, >= 0.
        margin: :math:`\delta`, >= 0 (in nats of the teacher's cross-entropy).
        gate: ``'argmax'`` or ``'prob'``.
        weakness_loss: Config of the student's inverted loss (it must take ``weight`` and
            ``avg_factor``, as :class:`tst_mm.StudentWeaknessLoss` does).
    """

    needs = frozenset({LOGITS, CLEAN_TEACHER_LOGITS})

    def __init__(self, hinge_weight: float = 1.0, margin: float = 0.0, gate: str = 'argmax',
                 weakness_loss: Optional[dict] = None) -> None:
        super().__init__()
        check_choice('gate', gate, GATES, owner='search_objective')
        self.hinge_weight = check_weight('hinge_weight', hinge_weight)
        self.margin = check_weight('margin', margin)
        self.gate = gate
        self.weakness_loss = MODELS.build(weakness_loss or dict(type='tst_mm.StudentWeaknessLoss'))

    def gate_of(self, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        """The per-sample gate :math:`g_i` in ``[0, 1]`` (float32, no gradient)."""
        teacher_logits = teacher_logits.detach().float()
        if self.gate == 'argmax':
            return (teacher_logits.argmax(dim=1) == labels).float()
        return teacher_logits.softmax(dim=1).gather(1, labels[:, None])[:, 0]

    def forward(self, evidence: SearchEvidence) -> Dict[str, Tensor]:
        """The terms from the teacher's logits on ``x`` and both models' on ``x'``."""
        teacher_clean_logits = evidence[CLEAN_TEACHER_LOGITS]
        logits = evidence[LOGITS]
        teacher_logits, student_logits, labels = logits.teacher, logits.student, logits.labels
        gate = self.gate_of(teacher_logits, labels)
        weakness = self.weakness_loss(student_logits, labels, weight=gate, avg_factor=gate.sum())
        ce_aug = F.cross_entropy(teacher_logits.float(), labels, reduction='none')
        ce_clean = F.cross_entropy(teacher_clean_logits.detach().float(), labels,
                                   reduction='none')
        hinge = torch.relu(ce_aug - ce_clean - self.margin).mean()
        return {'augment.loss_teacher': hinge * self.hinge_weight,
                'augment.loss_weakness': weakness,
                'augment.gate_open': gate.mean()}

    def extra_repr(self) -> str:
        """Show the settings in ``repr``."""
        return f'hinge_weight={self.hinge_weight}, margin={self.margin}, gate={self.gate!r}'
