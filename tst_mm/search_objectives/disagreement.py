"""A search objective that looks for what KD can transfer: teacher-student disagreement."""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor

from tst_mm.registry import MODELS

from ..errors import ConfigError, check_choice
from ..losses._utils import log_softmax32
from .base import SearchObjective, check_weight
from .evidence import CLEAN_TEACHER_LOGITS, LOGITS, SearchEvidence

__all__ = ['DisagreementObjective']

CONSISTENCY = ('kl', 'ce')


def _kl_per_sample(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``KL(p || q)`` per row of two ``(N, C)`` log-probability tensors."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


@MODELS.register_module()
class DisagreementObjective(SearchObjective):
    r"""Maximise what KD transfers on ``x'`` while the teacher stays itself.

    .. math::
        L_\mathrm{weakness} = -\frac{\tau^2}{N} \sum_i
            \mathrm{KL}\big(\mathrm{softmax}(T(x'_i)/\tau) \,\|\, \mathrm{softmax}(S(x'_i)/\tau)
            \big),
        \qquad
        L_\mathrm{teacher} = \frac{\lambda}{N} \sum_i \mathrm{relu}(c_i - \epsilon),

    with the teacher's consistency :math:`c_i = \mathrm{KL}(T(x_i) \,\|\, T(x'_i))` at
    temperature 1 (``consistency='kl'``) or :math:`\mathrm{CE}_T(x'_i) - \mathrm{CE}_T(x_i)`
    (``consistency='ce'``). The weakness term is the KD loss at the distillation temperature
    (negated), so the search looks for samples where distillation has the most to say, not
    for samples the student gets wrong; the hinge keeps the teacher's view of ``x'`` close to
    its view of ``x``, so the disagreement cannot be bought by confusing the teacher.

    Args:
        tau: KD temperature, > 0 (match the distillation loss's).
        consistency_weight: :math:`\lambda`, >= 0.
        margin: :math:`\epsilon`, >= 0.
        consistency: ``'kl'`` or ``'ce'``.
    """

    needs = frozenset({LOGITS, CLEAN_TEACHER_LOGITS})

    def __init__(self, tau: float = 4.0, consistency_weight: float = 1.0, margin: float = 0.0,
                 consistency: str = 'kl') -> None:
        super().__init__()
        if not tau > 0:
            raise ConfigError(f'search_objective: tau must be > 0, got {tau}')
        check_choice('consistency', consistency, CONSISTENCY, owner='search_objective')
        self.tau = float(tau)
        self.consistency_weight = check_weight('consistency_weight', consistency_weight)
        self.margin = check_weight('margin', margin)
        self.consistency = consistency

    def forward(self, evidence: SearchEvidence) -> Dict[str, Tensor]:
        """The terms from the teacher's logits on ``x`` and both models' on ``x'``."""
        teacher_clean_logits = evidence[CLEAN_TEACHER_LOGITS]
        logits = evidence[LOGITS]
        teacher_logits, student_logits, labels = logits.teacher, logits.student, logits.labels
        transfer = _kl_per_sample(log_softmax32(teacher_logits, self.tau),
                                  log_softmax32(student_logits, self.tau)) * self.tau**2
        clean = teacher_clean_logits.detach()
        if self.consistency == 'kl':
            drift = _kl_per_sample(log_softmax32(clean), log_softmax32(teacher_logits))
        else:
            drift = (F.cross_entropy(teacher_logits.float(), labels, reduction='none') -
                     F.cross_entropy(clean.float(), labels, reduction='none'))
        hinge = torch.relu(drift - self.margin).mean()
        return {'augment.loss_teacher': hinge * self.consistency_weight,
                'augment.loss_weakness': -transfer.mean(),
                'augment.teacher_drift': drift.detach().mean()}

    def extra_repr(self) -> str:
        """Show the settings in ``repr``."""
        return (f'tau={self.tau}, consistency_weight={self.consistency_weight}, '
                f'margin={self.margin}, consistency={self.consistency!r}')
