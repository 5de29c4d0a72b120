"""One optimizer update that all ranks apply, or all skip, leaving everything as it was."""
import copy
from typing import Iterable, Optional, Sequence

import torch
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from torch import nn

from ..utils.collective import FAILED, NON_FINITE, OK, worst_on_any_rank
from .grad_sync import sync_gradients

__all__ = ['GuardedUpdate']


def _all_finite(tensors: Iterable[Optional[torch.Tensor]]) -> bool:
    """Whether every given tensor holds only finite values (one host sync)."""
    flags = [torch.isfinite(tensor).all() for tensor in tensors if tensor is not None]
    return bool(torch.stack(flags).all()) if flags else True


class GuardedUpdate:
    """An update of one TST part (student or augmenter) that survives a NaN on any rank.

    Wrap the forward pass and the update of one training step::

        with GuardedUpdate(wrapper, module, 'search', keep_params=True) as update:
            loss = ...                                   # forward
            update.apply(loss, module.parameters())      # backward, sync, step: or skip

    Before the backward pass every rank contributes one flag to one all-reduce: whether its
    loss (and the tensors in ``also_finite``) is finite, or whether its forward raised. If any
    rank's was not finite, every rank skips the step; if any rank's forward raised, the others
    raise too instead of waiting for it in the gradient all-reduce. After the gradients are
    averaged they are the same on every rank, so the gradient check that follows (skipped
    under AMP, whose loss scaler skips such steps itself) decides the same everywhere.

    A skipped step leaves the part as it was: its buffers (e.g. BN statistics, which a
    non-finite forward corrupts) are put back, and with ``keep_params`` also its parameters
    and its optimizer's state (momentum), in case a finite gradient still made a parameter
    non-finite. ``keep_params`` copies them before every step, so it is meant for small parts
    such as the augmenter; the student relies on the gradient check instead.

    Args:
        wrapper: The optimizer wrapper of the part.
        module: The part (its buffers, and with ``keep_params`` its parameters, are kept).
        name: The step's name in messages, e.g. ``'search'``.
        keep_params: Also restore parameters and optimizer state on a skip.
    """

    def __init__(self, wrapper: OptimWrapper, module: nn.Module, name: str,
                 keep_params: bool = False) -> None:
        self.wrapper = wrapper
        self.module = module
        self.name = name
        self._buffers = [(buf, buf.detach().clone()) for buf in module.buffers()]
        self._params = None
        self._optim_state = None
        if keep_params:
            self._params = [(param, param.detach().clone()) for param in module.parameters()]
            self._optim_state = copy.deepcopy(wrapper.optimizer.state_dict())
        self._agreed = False
        self.skipped = False

    def __enter__(self) -> 'GuardedUpdate':
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is not None and not self._agreed:
            # this rank failed before the vote: vote so the others stop too, then re-raise
            self._agreed = True
            worst_on_any_rank(FAILED, self._device())
        return False

    def _device(self) -> Optional[torch.device]:
        tensor = next(self.module.parameters(), None)
        return tensor.device if tensor is not None else None

    def apply(self, loss: torch.Tensor, params: Iterable[nn.Parameter],
              also_finite: Sequence[torch.Tensor] = ()) -> bool:
        """Back-propagate ``loss`` and step, unless any rank's step is not finite.

        Args:
            loss: This rank's loss.
            params: The parameters the wrapper optimises.
            also_finite: Tensors that must be finite too (e.g. the augmented images).

        Returns:
            Whether the update was applied (``True`` also for an accumulation step).

        Raises:
            RuntimeError: If the step failed with an error on another rank.
        """
        local = OK if _all_finite([loss.detach(), *[t.detach() for t in also_finite]]) \
            else NON_FINITE
        self._agreed = True
        verdict = worst_on_any_rank(local, loss.device)
        if verdict == FAILED:
            raise RuntimeError(f'the TST {self.name} step failed on another rank; its log '
                               'says why')
        if verdict == NON_FINITE:
            where = 'here' if local == NON_FINITE else 'on another rank'
            self._skip(f'non-finite loss {where} ({loss.item()})')
            return False
        self.wrapper.backward(self.wrapper.scale_loss(loss))
        if not self.wrapper.should_update():
            return True
        params = sync_gradients(params)  # the same gradients on every rank from here on
        if getattr(self.wrapper, 'loss_scaler', None) is None \
                and not _all_finite(param.grad for param in params):
            self.wrapper.zero_grad()
            self._skip('non-finite gradients')
            return False
        self.wrapper.step()
        self.wrapper.zero_grad()
        if self._params is not None and not _all_finite(params):
            self._skip('non-finite parameters after the update')
            return False
        return True

    def _skip(self, reason: str) -> None:
        """Put the part back as it was before the step and say so."""
        self.skipped = True
        with torch.no_grad():
            for buf, saved in self._buffers:
                buf.copy_(saved)
            for param, saved in self._params or ():
                param.copy_(saved)
        if self._optim_state is not None:
            self.wrapper.optimizer.load_state_dict(self._optim_state)
        MMLogger.get_current_instance().warning(
            f'TST {self.name} step skipped on every rank: {reason}; the '
            f'{type(self.module).__name__} and its optimizer are as before the step')
