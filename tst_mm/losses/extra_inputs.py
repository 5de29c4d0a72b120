"""Loss calling conventions: what a loss takes besides ``(prediction, target)``.

A loss declares the optional inputs it takes in its class attribute ``extra_inputs``; the task
adapters read the declaration (:func:`takes`) instead of inspecting ``forward``'s signature.
A loss without the attribute takes none of them. For instance::

    @MODELS.register_module()
    class MyPixelKD(nn.Module):
        extra_inputs = (VALID_MASK, )

        def forward(self, student_logits, teacher_logits, valid_mask=None): ...
"""
from typing import Any, Tuple

from torch import Tensor, nn

__all__ = ['LABELS', 'VALID_MASK', 'IGNORE_INDEX', 'EXTRA_INPUTS', 'takes', 'call_loss']

#: KD losses: the ground-truth class of each compared sample, third positional argument
#: (e.g. DKD).
LABELS = 'labels'
#: KD losses: keyword ``valid_mask``, ``False`` for samples / pixels / RoIs to leave out.
VALID_MASK = 'valid_mask'
#: Weakness losses: keyword ``ignore_index``, the label of pixels to leave out.
IGNORE_INDEX = 'ignore_index'
#: Every input a loss can declare.
EXTRA_INPUTS: Tuple[str, ...] = (LABELS, VALID_MASK, IGNORE_INDEX)


def takes(loss: nn.Module, extra_input: str) -> bool:
    """Whether ``loss`` declares that it takes ``extra_input`` (one of :data:`EXTRA_INPUTS`)."""
    if extra_input not in EXTRA_INPUTS:
        raise ValueError(f'{extra_input!r} is not one of {EXTRA_INPUTS}')
    return extra_input in getattr(loss, 'extra_inputs', ())


def call_loss(loss: nn.Module, prediction: Tensor, target: Any, **extra_inputs: Any) -> Tensor:
    """``loss(prediction, target)``, passing it each of ``extra_inputs`` it declares.

    Labels go as the third positional argument, the others by keyword; an input given as
    ``None``, or that the loss does not declare, is left out. An input may be given as a
    function of no arguments, called only for a loss that takes it (e.g. a mask that costs
    something to compute).

    Args:
        loss: The loss module.
        prediction: Its first argument.
        target: Its second argument.
        **extra_inputs: Inputs named in :data:`EXTRA_INPUTS`.
    """
    args, kwargs = [prediction, target], {}
    for name, value in extra_inputs.items():
        if value is None or not takes(loss, name):
            continue
        value = value() if callable(value) else value
        if name == LABELS:
            args.append(value)
        else:
            kwargs[name] = value
    return loss(*args, **kwargs)
