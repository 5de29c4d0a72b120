"""Optimizer updates that average gradients across processes first."""
from typing import Iterable, List

import torch
from mmengine.dist import all_reduce_params, get_world_size
from mmengine.optim import OptimWrapper
from torch import nn

__all__ = ['sync_gradients', 'update_params_synced']


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


def update_params_synced(wrapper: OptimWrapper, loss: torch.Tensor,
                         params: Iterable[nn.Parameter]) -> None:
    """``wrapper.update_params(loss)`` with the gradients of ``params`` averaged over ranks.

    The same steps as mmengine's ``OptimWrapper.update_params`` (loss scaling for gradient
    accumulation, backward through the wrapper so AMP loss scaling applies, step and zero_grad
    when an update is due), plus :func:`sync_gradients` just before the step.

    Args:
        wrapper: The optimizer wrapper of the part being updated.
        loss: The loss to back-propagate.
        params: The parameters that ``wrapper`` optimises.
    """
    loss = wrapper.scale_loss(loss)
    wrapper.backward(loss)
    if not wrapper.should_update():
        return
    sync_gradients(params)
    wrapper.step()
    wrapper.zero_grad()
