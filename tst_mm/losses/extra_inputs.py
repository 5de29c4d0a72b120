"""Loss calling conventions: what a loss takes besides ``(prediction, target)``.

A loss declares the optional inputs it takes in its class attribute ``extra_inputs``; the task
adapters read the declaration (:func:`takes`) instead of inspecting ``forward``'s signature.
A loss without the attribute takes none of them. For instance::

    @MODELS.register_module()
    class MyPixelKD(nn.Module):
        extra_inputs = (VALID_MASK, )

        def forward(self, student_logits, teacher_logits, valid_mask=None): ...
"""
from typing import Tuple

from torch import nn

__all__ = ['LABELS', 'VALID_MASK', 'IGNORE_INDEX', 'EXTRA_INPUTS', 'takes']

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
