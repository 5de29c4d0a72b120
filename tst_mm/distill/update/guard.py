"""One optimizer update that all ranks apply, or all skip, leaving everything as it was."""
import copy
from itertools import chain
from typing import Iterable, Optional, Sequence

import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import OptimWrapper
from torch import nn

from ...errors import ConfigError
from ...utils.collective import FAILED, NON_FINITE, OK, worst_on_any_rank
from .grad_sync import sync_gradients

__all__ = ['GuardedUpdate', 'SkipCounter', 'TrainingDiverged']


class TrainingDiverged(ConfigError):
    """Training cannot go on: a TST part is not finite, or stays skipped. One line from
    ``tools/train.py``, naming the last checkpoint saved before the part's last update.

    Args:
        message: What happened and where to resume from.
        checkpoint: That checkpoint (``None`` when none was saved before): the TST loops
            point ``last_checkpoint`` at it, so that a plain ``--resume`` starts there.
    """

    def __init__(self, message: str, checkpoint: Optional[str] = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


def _all_finite(tensors: Iterable[Optional[torch.Tensor]]) -> bool:
    """Whether every given tensor holds only finite values (one host sync)."""
    flags = [torch.isfinite(tensor).all() for tensor in tensors if tensor is not None]
    return bool(torch.stack(flags).all()) if flags else True


def _last_checkpoint() -> Optional[str]:
    """The checkpoint the run saved last (``CheckpointHook`` and the TST search passes record
    it in the message hub), or ``None``."""
    return MessageHub.get_current_instance().get_info('last_ckpt')


class SkipCounter:
    """The skipped updates of one TST part, and when to give up on it.

    A skipped step leaves the part as it was, so a passing glitch (one non-finite batch) costs
    one step. A part that cannot recover (a student that an exploding update made huge: every
    later loss is non-finite) would be skipped silently until the end of training; after
    ``limit`` skips in a row the run stops instead.

    Args:
        limit: Skipped steps in a row after which :class:`TrainingDiverged` is raised.

    Attributes:
        total: Steps skipped so far (in this process's run).
        in_a_row: Steps skipped since the last applied update.
        checkpoint: The last checkpoint saved before the last applied update (``None`` while
            none is known): the one to resume from when the part diverges.
    """

    def __init__(self, limit: int = 20) -> None:
        if int(limit) < 1:
            raise ConfigError(f'max_consecutive_skips must be >= 1, got {limit}')
        self.limit = int(limit)
        self.total = 0
        self.in_a_row = 0
        self.checkpoint: Optional[str] = None

    def before_update(self) -> None:
        """Note the last checkpoint saved before an update is applied."""
        self.checkpoint = _last_checkpoint()

    def applied(self) -> None:
        """An update was applied: the skips in a row start again from zero."""
        self.in_a_row = 0

    def skipped(self) -> bool:
        """Count a skipped step; whether that makes ``limit`` in a row."""
        self.total += 1
        self.in_a_row += 1
        return self.in_a_row >= self.limit

    def resume_hint(self) -> str:
        """Where to resume from, for an error message."""
        where = (f'the last checkpoint saved before its last update is {self.checkpoint}'
                 if self.checkpoint else 'no checkpoint was saved before its last update')
        return (f'{where}; resume with a lower learning rate or gradient clipping '
                '(optim_wrapper.<part>.clip_grad)')


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

    A skipped step leaves the part as it was: the buffers (e.g. BN statistics, which a
    non-finite forward corrupts) are put back, and with ``keep_params`` also its parameters
    and its optimizer's state (momentum). ``keep_params`` copies them before every step, so
    it is meant for small parts such as the augmenter. After an applied update the part's
    parameters and buffers are checked on every rank: with ``keep_params`` a non-finite one
    makes the step a skip, without (the student) nothing could put it back, and
    :class:`TrainingDiverged` stops the run at once.

    With a :class:`SkipCounter`, skips are counted, the warning of each says how many came
    in a row, and :class:`TrainingDiverged` is raised after ``counter.limit`` in a row.

    Args:
        wrapper: The optimizer wrapper of the part.
        module: The part (checked after an update; its parameters kept with ``keep_params``).
        name: The step's name in messages, e.g. ``'search'``.
        keep_params: Also restore parameters and optimizer state on a skip.
        buffers: The buffers a skip puts back (default: the part's own). Give also those of
            other modules the forward changes, e.g. a teacher's BN statistics.
        counter: Where skips are counted, across steps.
    """

    def __init__(self, wrapper: OptimWrapper, module: nn.Module, name: str,
                 keep_params: bool = False, buffers: Optional[Iterable[torch.Tensor]] = None,
                 counter: Optional[SkipCounter] = None) -> None:
        self.wrapper = wrapper
        self.module = module
        self.name = name
        self.counter = counter
        buffers = module.buffers() if buffers is None else buffers
        self._buffers = [(buf, buf.detach().clone()) for buf in buffers]
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
            TrainingDiverged: If the update made the part non-finite (without
                ``keep_params``), or the counter's limit of skips in a row is reached.
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
        if self.counter is not None:
            self.counter.before_update()
        self.wrapper.step()
        self.wrapper.zero_grad()
        # parameters are the same on every rank, buffers (BN statistics) need not be
        finite = _all_finite(chain(self.module.parameters(), self.module.buffers()))
        if worst_on_any_rank(OK if finite else NON_FINITE, loss.device) != OK:
            if self._params is not None:
                self._skip('non-finite parameters or buffers after the update')
                return False
            hint = self.counter.resume_hint() if self.counter is not None else ''
            raise TrainingDiverged(
                f'the {type(self.module).__name__} holds non-finite parameters or buffers '
                f'after a TST {self.name} update (an exploding update); nothing can put it '
                f'back, so training stops{"; " + hint if hint else ""}',
                checkpoint=self.counter.checkpoint if self.counter is not None else None)
        if self.counter is not None:
            self.counter.applied()
        return True

    def _skip(self, reason: str) -> None:
        """Put the part back as it was before the step, say so, and count the skip."""
        self.skipped = True
        with torch.no_grad():
            for buf, saved in self._buffers:
                buf.copy_(saved)
            for param, saved in self._params or ():
                param.copy_(saved)
        if self._optim_state is not None:
            self.wrapper.optimizer.load_state_dict(self._optim_state)
        part = type(self.module).__name__
        if self.counter is None:
            MMLogger.get_current_instance().warning(
                f'TST {self.name} step skipped on every rank: {reason}; the {part} and its '
                'optimizer are as before the step')
            return
        give_up = self.counter.skipped()
        # the counts make every message new: mmengine's logger drops repeated warnings
        MMLogger.get_current_instance().warning(
            f'TST {self.name} step skipped on every rank ({self.counter.in_a_row} in a row, '
            f'{self.counter.total} in all): {reason}; the {part} and its optimizer are as '
            'before the step')
        if give_up:
            raise TrainingDiverged(
                f'{self.counter.in_a_row} TST {self.name} steps in a row skipped (the last: '
                f'{reason}): the {part} does not recover, so training stops (the limit is '
                f'model.max_consecutive_skips={self.counter.limit}); '
                f'{self.counter.resume_hint()}', checkpoint=self.counter.checkpoint)
