"""The authors' search optimisation: the plateau rule on scripted losses and the phase reset."""
import pytest
import torch

from tst_mm.engine import SearchOptimController


def _optimizer(lr=0.01):
    param = torch.nn.Parameter(torch.zeros(3))
    return torch.optim.SGD([param], lr=lr, momentum=0.9), param


def test_plateau_rule_on_a_scripted_loss_sequence():
    optimizer, _ = _optimizer()
    controller = SearchOptimController()
    controller.start_phase(optimizer)
    # (pass mean loss, whether the lr is decayed after it)
    script = [
        (1.00, False),   # first pass of the phase: nothing to compare with
        (0.95, False),   # fell 0.05 >= 0.02
        (0.94, True),    # fell 0.01 < 0.02 and 1.05% < 2%
        (0.50, False),   # fell a lot
        (0.49, False),   # fell 0.01 < 0.02 but exactly 2% of 0.50
        (0.485, True),   # fell 0.005 and 1.02%
        (0.60, True),    # rose: no progress
        (0.30, False),
    ]
    lr = 0.01
    for loss, decays in script:
        assert controller.end_pass(optimizer, loss) is decays
        lr *= 0.9 if decays else 1.0
        assert optimizer.param_groups[0]['lr'] == pytest.approx(lr)
    # a large loss: an absolute fall of 0.1 counts although it is only 1% of it
    assert controller.end_pass(optimizer, 10.0) is True  # rose
    assert controller.end_pass(optimizer, 9.9) is False
    assert controller.end_pass(optimizer, 9.8) is False


def test_a_new_phase_starts_with_a_fresh_optimizer_and_forgets_the_last_pass():
    optimizer, param = _optimizer(lr=0.01)
    controller = SearchOptimController()
    controller.start_phase(optimizer)
    param.grad = torch.ones(3)
    optimizer.step()
    controller.end_pass(optimizer, 1.0)
    controller.end_pass(optimizer, 1.0)  # plateau: lr x0.9
    assert optimizer.param_groups[0]['lr'] == pytest.approx(0.009)
    assert optimizer.state[param]['momentum_buffer'].abs().sum() > 0

    controller.start_phase(optimizer)
    assert optimizer.param_groups[0]['lr'] == pytest.approx(0.01)
    assert len(optimizer.state) == 0
    assert controller.end_pass(optimizer, 1.0) is False  # no previous pass in this phase


def test_options_switch_the_rules_off_and_bad_values_are_refused():
    optimizer, param = _optimizer(lr=0.01)
    controller = SearchOptimController(reset_each_phase=False, factor=None)
    controller.start_phase(optimizer)
    param.grad = torch.ones(3)
    optimizer.step()
    for loss in (1.0, 1.0, 1.0):
        assert controller.end_pass(optimizer, loss) is False
    controller.start_phase(optimizer)
    assert len(optimizer.state) == 1 and optimizer.param_groups[0]['lr'] == 0.01
    with pytest.raises(ValueError, match='factor'):
        SearchOptimController(factor=1.5)
    with pytest.raises(ValueError, match='min_delta'):
        SearchOptimController(min_delta=-1)


def test_state_round_trips():
    controller = SearchOptimController()
    optimizer, _ = _optimizer()
    controller.end_pass(optimizer, 0.7)
    restored = SearchOptimController()
    restored.load_state_dict(controller.state_dict())
    assert restored.end_pass(optimizer, 0.695) is True  # compared with the restored 0.7


def test_a_non_finite_pass_mean_is_not_compared_nor_kept():
    optimizer, _ = _optimizer(lr=0.01)
    controller = SearchOptimController()
    controller.start_phase(optimizer)
    assert controller.end_pass(optimizer, float('nan')) is False
    assert controller.end_pass(optimizer, 1.0) is False  # first finite pass: nothing before
    assert optimizer.param_groups[0]['lr'] == 0.01
    assert controller.end_pass(optimizer, float('inf')) is False
    assert controller.end_pass(optimizer, 0.9) is False  # fell 0.1 from the last finite 1.0
    assert controller.end_pass(optimizer, float('nan')) is False
    assert controller.end_pass(optimizer, 0.895) is True  # plateau against 0.9
    assert optimizer.param_groups[0]['lr'] == pytest.approx(0.009)
    assert controller.state_dict() == {'previous_loss': 0.895}


def test_the_augmenter_part_applies_the_rules_to_its_own_wrapper_only():
    from mmengine.optim import OptimWrapper, OptimWrapperDict

    from tst_mm.distill.update import AUGMENTER, STUDENT, SearchPart
    student, student_param = _optimizer(lr=0.1)
    augmenter, augmenter_param = _optimizer(lr=0.01)
    wrappers = OptimWrapperDict(**{STUDENT: OptimWrapper(student),
                                   AUGMENTER: OptimWrapper(augmenter)})
    part = SearchPart(AUGMENTER, 'search', phase_rules=SearchOptimController(factor=0.5))
    part.start_phase(wrappers)
    for param, optimizer in ((student_param, student), (augmenter_param, augmenter)):
        param.grad = torch.ones(3)
        optimizer.step()
    assert part.end_pass(wrappers, 1.0) is False
    assert part.end_pass(wrappers, 1.0) is True  # plateau: the augmenter's lr x0.5
    assert part.lr(wrappers) == pytest.approx(0.005)
    assert student.param_groups[0]['lr'] == 0.1
    assert part.state_dict() == {'previous_loss': 1.0}

    part.start_phase(wrappers)  # fresh: the augmenter's momentum and lr, not the student's
    assert len(augmenter.state) == 0 and part.lr(wrappers) == pytest.approx(0.01)
    assert len(student.state) == 1
    restored = SearchPart(AUGMENTER, 'search')
    restored.load_state_dict({'previous_loss': 0.7})
    assert restored.end_pass(wrappers, 0.695) is True
