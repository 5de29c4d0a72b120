"""Search objectives: each term against its formula on small hand-made logits."""
import math

import pytest
import torch
import torch.nn.functional as F

from tst_mm.errors import ConfigError
from tst_mm.losses import StudentWeaknessLoss
from tst_mm.registry import MODELS
from tst_mm.search_objectives import (
    ClassLogits,
    DisagreementObjective,
    PaperSearchObjective,
    SearchEvidence,
    TeacherGatedObjective,
)

LABELS = torch.tensor([0, 1, 2])
# the teacher is right on samples 0 and 2 (argmax = label) and wrong on sample 1
TEACHER = torch.tensor([[3.0, 0.5, -1.0], [2.0, 0.0, 0.5], [0.0, 0.2, 1.5]])
TEACHER_CLEAN = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 4.0]])
STUDENT = torch.tensor([[0.5, 1.0, 0.0], [0.0, 2.0, -1.0], [1.0, 0.0, 0.3]])


def _evidence(teacher, student, labels, teacher_clean=None):
    """What a classification search step offers, from given logits (as the adapter does)."""
    sources = {
        'logits': lambda evidence: ClassLogits(teacher, student, labels),
        'teacher_task_loss': lambda evidence: F.cross_entropy(teacher, labels),
        'student_inverted_loss': lambda evidence: lambda weakness: weakness(student, labels)}
    if teacher_clean is not None:
        sources['clean_teacher_logits'] = lambda evidence: teacher_clean
    return SearchEvidence(sources)


def _inverted_ce(logits, labels):
    """-log(1 - p_y) per sample, directly."""
    return -torch.log1p(-logits.softmax(1).gather(1, labels[:, None])[:, 0])


def _ce(logits, labels):
    return F.cross_entropy(logits, labels, reduction='none')


def test_paper_objective_is_the_weighted_teacher_ce_and_inverted_student_ce():
    objective = PaperSearchObjective(teacher_weight=2.0, weakness_weight=0.5,
                                     weakness_loss=dict(type='tst_mm.StudentWeaknessLoss',
                                                        eps=0.0))
    out = objective(_evidence(TEACHER, STUDENT, LABELS))
    assert torch.allclose(out['augment.loss_teacher'], 2.0 * _ce(TEACHER, LABELS).mean())
    assert torch.allclose(out['augment.loss_weakness'],
                          0.5 * _inverted_ce(STUDENT, LABELS).mean())
    assert set(out) == {'augment.loss_teacher', 'augment.loss_weakness'}


def test_gated_weakness_counts_only_the_samples_the_teacher_gets_right():
    objective = TeacherGatedObjective(weakness_loss=dict(type='tst_mm.StudentWeaknessLoss',
                                                         eps=0.0))
    student = STUDENT.clone().requires_grad_()
    out = objective(_evidence(TEACHER, student, LABELS, TEACHER_CLEAN))
    expected = _inverted_ce(STUDENT, LABELS)[[0, 2]].mean()  # the mean over the open gates
    assert torch.allclose(out['augment.loss_weakness'], expected)
    assert out['augment.gate_open'] == pytest.approx(2 / 3)
    out['augment.loss_weakness'].backward()
    assert torch.equal(student.grad[1], torch.zeros(3))  # closed gate: no gradient
    assert student.grad[0].abs().sum() > 0 and student.grad[2].abs().sum() > 0


def test_gated_weakness_by_teacher_probability():
    objective = TeacherGatedObjective(gate='prob', weakness_loss=dict(
        type='tst_mm.StudentWeaknessLoss', eps=0.0))
    out = objective(_evidence(TEACHER, STUDENT, LABELS, TEACHER_CLEAN))
    p_t = TEACHER.softmax(1).gather(1, LABELS[:, None])[:, 0]
    expected = (p_t * _inverted_ce(STUDENT, LABELS)).sum() / p_t.sum()
    assert torch.allclose(out['augment.loss_weakness'], expected)


def test_gated_weakness_is_zero_when_every_gate_is_closed():
    objective = TeacherGatedObjective()
    wrong = torch.roll(torch.eye(3) * 5, 1, dims=1)  # argmax never the label
    student = STUDENT.clone().requires_grad_()
    out = objective(_evidence(wrong, student, LABELS, TEACHER_CLEAN))
    assert out['augment.loss_weakness'] == 0 and out['augment.gate_open'] == 0
    out['augment.loss_weakness'].backward()  # still connected to the graph
    assert torch.equal(student.grad, torch.zeros_like(student))


def test_gated_hinge_acts_only_where_x_prime_got_harder_for_the_teacher_by_more_than_delta():
    ce_aug, ce_clean = _ce(TEACHER, LABELS), _ce(TEACHER_CLEAN, LABELS)
    excess = ce_aug - ce_clean  # sample 0 got easier, samples 1 and 2 harder
    assert excess[0] < 0 < excess[2] < excess[1]
    delta = float(excess[2]) + 0.1  # only sample 1 is above the margin
    objective = TeacherGatedObjective(hinge_weight=3.0, margin=delta)
    teacher = TEACHER.clone().requires_grad_()
    out = objective(_evidence(teacher, STUDENT, LABELS, TEACHER_CLEAN))
    assert torch.allclose(out['augment.loss_teacher'], 3.0 * (excess[1] - delta) / 3)
    out['augment.loss_teacher'].backward()
    assert torch.equal(teacher.grad[0], torch.zeros(3))
    assert torch.equal(teacher.grad[2], torch.zeros(3))
    assert teacher.grad[1].abs().sum() > 0
    below = TeacherGatedObjective(margin=float(excess[1]) + 0.01)
    out = below(_evidence(TEACHER, STUDENT, LABELS, TEACHER_CLEAN))
    assert out['augment.loss_teacher'] == 0


def test_disagreement_is_minus_the_kd_loss_plus_a_consistency_hinge():
    tau = 4.0
    objective = DisagreementObjective(tau=tau, consistency_weight=2.0)
    out = objective(_evidence(TEACHER, STUDENT, LABELS, TEACHER_CLEAN))
    kd = F.kl_div(F.log_softmax(STUDENT / tau, 1), F.log_softmax(TEACHER / tau, 1),
                  reduction='batchmean', log_target=True) * tau**2
    assert torch.allclose(out['augment.loss_weakness'], -kd)
    drift = F.kl_div(F.log_softmax(TEACHER, 1), F.log_softmax(TEACHER_CLEAN, 1),
                     reduction='none', log_target=True).sum(1)  # KL(T(x) || T(x'))
    assert torch.allclose(out['augment.loss_teacher'], 2.0 * drift.mean())
    assert torch.allclose(out['augment.teacher_drift'], drift.mean())
    margin = float(drift.max()) + 1e-3
    quiet = DisagreementObjective(margin=margin)(
        _evidence(TEACHER, STUDENT, LABELS, TEACHER_CLEAN))
    assert quiet['augment.loss_teacher'] == 0


def test_disagreement_with_the_ce_hinge():
    objective = DisagreementObjective(consistency='ce', margin=0.1)
    out = objective(_evidence(TEACHER, STUDENT, LABELS, TEACHER_CLEAN))
    excess = _ce(TEACHER, LABELS) - _ce(TEACHER_CLEAN, LABELS)
    assert torch.allclose(out['augment.loss_teacher'], torch.relu(excess - 0.1).mean())


def test_disagreement_descent_raises_the_kl_between_teacher_and_student():
    student = STUDENT.clone().requires_grad_()
    objective = DisagreementObjective(consistency_weight=0.0)
    evidence = _evidence(TEACHER, student, LABELS, TEACHER_CLEAN)
    before = -objective(evidence)['augment.loss_weakness']
    objective(evidence)['augment.loss_weakness'].backward()
    with torch.no_grad():
        after = -objective(_evidence(TEACHER, student - 0.5 * student.grad, LABELS,
                                     TEACHER_CLEAN))['augment.loss_weakness']
    assert after > before


@pytest.mark.parametrize('cfg, message', [
    (dict(type='tst_mm.TeacherGatedObjective', hinge_weight=-1.0), 'hinge_weight must be >= 0'),
    (dict(type='tst_mm.TeacherGatedObjective', margin=-0.1), 'margin must be >= 0'),
    (dict(type='tst_mm.TeacherGatedObjective', gate='soft'), 'gate must be one of'),
    (dict(type='tst_mm.DisagreementObjective', margin=-1e-3), 'margin must be >= 0'),
    (dict(type='tst_mm.DisagreementObjective', tau=0), 'tau must be > 0'),
    (dict(type='tst_mm.DisagreementObjective', consistency='js'), 'consistency must be one of'),
    (dict(type='tst_mm.PaperSearchObjective', teacher_weight=float('nan')),
     'teacher_weight must be >= 0'),
])
def test_bad_settings_are_config_errors(cfg, message):
    with pytest.raises(ConfigError, match=message):
        MODELS.build(cfg)


def test_objectives_that_compare_with_x_need_the_clean_logits():
    for objective in (TeacherGatedObjective(), DisagreementObjective()):
        assert objective.needs == {'logits', 'clean_teacher_logits'}
        with pytest.raises(KeyError, match="no 'clean_teacher_logits' evidence"):
            objective(_evidence(TEACHER, STUDENT, LABELS))
    assert PaperSearchObjective.needs == {'teacher_task_loss', 'student_inverted_loss'}


def test_default_weakness_loss_is_the_bounded_inverted_ce():
    objective = PaperSearchObjective()
    assert isinstance(objective.weakness_loss, StudentWeaknessLoss)
    saturated = torch.tensor([[50.0, 0.0, 0.0]])
    out = objective(_evidence(saturated, saturated, torch.tensor([0])))
    value = out['augment.loss_weakness']
    assert value == pytest.approx(-math.log(1e-6), rel=1e-3)
