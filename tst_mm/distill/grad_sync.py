"""Gradients averaged across processes before an optimizer step."""
from typing import Iterable, List

import torch
from mmengine.dist import all_reduce_params, get_world_size
from torch import nn

__all__ = ['sync_gradients']


def sync_gradients(params: Iterable[nn.Parameter]) -> List[nn.Parameter]:
    """Average the gradients of the trainable ``params`` over ranks (one all-reduce).

    Parameters that got no gradient on this rank contribute zeros, so every rank joins the
    same collective with the same tensors. A no-op in a single process.

    Returns:
        The trainable parameters whose gradients were synced.
    """
    params = [param for param in params if param.requires_grad]
    if get_world_size() > 1:
        for param in params:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
        all_reduce_params([param.grad for param in params], op='mean')
    return params
