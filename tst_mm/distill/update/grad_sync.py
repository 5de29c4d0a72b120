"""Gradients averaged across processes before an optimizer step."""
from typing import Iterable, List

import torch
from mmengine.dist import all_reduce_params, get_world_size
from torch import nn

__all__ = ['sync_gradients']


def sync_gradients(params: Iterable[nn.Parameter]) -> List[nn.Parameter]:
    """Average the gradients of the trainable ``params`` over ranks (one all-reduce).

    Every rank joins the same collective with the same tensors, so a parameter that got no
    gradient here contributes zeros. A parameter that got none on *any* rank has none
    afterwards either: the optimizer then leaves it out of the step (no weight decay, no
    momentum), as it does in one process; the same config gives the same result whatever
    the launcher. A no-op in a single process.

    Returns:
        The trainable parameters whose gradients were synced.
    """
    params = [param for param in params if param.requires_grad]
    if get_world_size() == 1 or not params:
        return params
    got_grad = [param.grad is not None for param in params]
    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    # one flag per parameter, averaged with the gradients (in the same bucket): > 0 where
    # some rank computed a gradient
    flags = torch.tensor(got_grad, dtype=params[0].grad.dtype, device=params[0].grad.device)
    all_reduce_params([param.grad for param in params] + [flags], op='mean')
    for param, anywhere in zip(params, flags.tolist()):
        if not anywhere:
            param.grad = None
    return params
