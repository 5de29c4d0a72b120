"""Loss calling conventions are declared on the loss class and match what ``forward`` takes."""
import inspect

import pytest
import torch

from tst_mm import losses
from tst_mm.losses.extra_inputs import (
    EXTRA_INPUTS,
    IGNORE_INDEX,
    LABELS,
    VALID_MASK,
    call_loss,
    takes,
)
from tst_mm.losses.inverted_detection_losses import KINDS, InvertedLoss


@pytest.mark.parametrize('name', sorted(losses.__all__))
def test_declared_inputs_are_the_forward_parameters(name):
    loss = getattr(losses, name)()
    parameters = list(inspect.signature(loss.forward).parameters)[2:]  # after (pred, target)
    declared = {extra for extra in EXTRA_INPUTS if takes(loss, extra)}
    assert declared == {extra for extra in EXTRA_INPUTS if extra in parameters}


def test_what_each_loss_declares():
    assert takes(losses.KDLoss(), VALID_MASK) and not takes(losses.KDLoss(), LABELS)
    assert takes(losses.DKDLoss(), LABELS) and not takes(losses.DKDLoss(), VALID_MASK)
    assert takes(losses.StudentWeaknessLoss(), IGNORE_INDEX)
    assert not any(takes(losses.ChannelWiseDivergenceLoss(), e) for e in EXTRA_INPUTS)
    assert not takes(torch.nn.MSELoss(), VALID_MASK)  # undeclared: takes none
    with pytest.raises(ValueError, match="'weights' is not one of"):
        takes(losses.KDLoss(), 'weights')


def test_every_inversion_kind_has_its_form():
    inverted = InvertedLoss(torch.nn.L1Loss(), 'regression', losses.StudentWeaknessLoss(),
                            'positives', 'reciprocal', 2.0, None)
    assert tuple(inverted.forms()) == KINDS
    value = inverted(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]))
    assert value.item() == pytest.approx(1.0 / (1.0 + 2.0))  # 1 / (1 + mean |x - y|)


def test_call_loss_passes_each_loss_what_it_declares():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    labels, mask = torch.tensor([0, 1, 2, 0]), torch.tensor([True, False, True, True])
    kd, dkd = losses.KDLoss(), losses.DKDLoss()
    asked = []

    def costly_mask():
        asked.append(True)
        return mask

    assert torch.equal(call_loss(kd, student, teacher, labels=labels, valid_mask=mask),
                       kd(student, teacher, valid_mask=mask))
    assert torch.equal(call_loss(dkd, student, teacher, labels=labels, valid_mask=costly_mask),
                       dkd(student, teacher, labels))
    assert not asked  # DKD takes no mask: the function was not called
    assert torch.equal(call_loss(kd, student, teacher, valid_mask=costly_mask),
                       kd(student, teacher, valid_mask=mask)) and asked
    assert torch.equal(call_loss(kd, student, teacher, valid_mask=None), kd(student, teacher))
    weakness = losses.StudentWeaknessLoss()
    assert torch.equal(call_loss(weakness, student, labels, ignore_index=2),
                       weakness(student, labels, ignore_index=2))
