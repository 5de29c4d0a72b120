"""How the augmenter's optimizer behaves across search phases and passes (the authors' rules)."""
import math
from typing import Optional

from torch.optim import Optimizer

from ...errors import ConfigError, refuses_unknown_settings

__all__ = ['SearchOptimController']


@refuses_unknown_settings('train_cfg.search_optim')
class SearchOptimController:
    """Fresh augmenter optimizer at each search phase, lr decay on a plateau within a phase.

    The TST authors start every search phase with a new optimizer for the augmenter (momentum
    cleared, lr back to its base value) and, within a phase, multiply the lr by ``factor``
    after a pass whose mean search loss fell by less than ``min_delta`` (absolute) *and* less
    than ``min_rel_delta`` (relative to the previous pass's mean). A rise counts as no fall.

    The controller holds the previous pass's mean loss; its :meth:`state_dict` goes into the
    loop's saved state, so a run resumed inside a phase decays its lr exactly as an
    uninterrupted one (the optimizer's own state, lr included, is restored by the runner).

    Args:
        reset_each_phase: Clear the optimizer's state and restore its base lr at the start of
            every search phase.
        factor: lr multiplier on a plateau; ``None`` (or 1.0) switches the plateau rule off.
        min_delta: A pass's mean loss must fall by at least this much ...
        min_rel_delta: ... or by at least this fraction of the previous mean, to count as
            progress.
    """

    def __init__(self, reset_each_phase: bool = True, factor: Optional[float] = 0.9,
                 min_delta: float = 0.02, min_rel_delta: float = 0.02) -> None:
        if factor is not None and not 0.0 < factor <= 1.0:
            raise ConfigError(f'search_optim factor must be in (0, 1] or None, got {factor}')
        if min_delta < 0 or min_rel_delta < 0:
            raise ConfigError(f'search_optim min_delta and min_rel_delta must be >= 0, got '
                              f'{min_delta} and {min_rel_delta}')
        self.reset_each_phase = bool(reset_each_phase)
        self.factor = factor
        self.min_delta = float(min_delta)
        self.min_rel_delta = float(min_rel_delta)
        self.previous_loss: Optional[float] = None

    @staticmethod
    def base_lrs(optimizer: Optimizer) -> list:
        """The base lr of each param group (``initial_lr``, recorded on first use)."""
        return [group.setdefault('initial_lr', group['lr']) for group in optimizer.param_groups]

    def start_phase(self, optimizer: Optimizer) -> None:
        """A new search phase: forget the previous pass and, if configured, reset the optimizer."""
        self.previous_loss = None
        if not self.reset_each_phase:
            return
        optimizer.state.clear()
        for group, base in zip(optimizer.param_groups, self.base_lrs(optimizer)):
            group['lr'] = base

    def end_pass(self, optimizer: Optimizer, mean_loss: float) -> bool:
        """Apply the plateau rule after a pass with mean search loss ``mean_loss``.

        A non-finite mean (a pass whose every step was skipped) neither decays the lr nor
        replaces the previous pass's mean.

        Returns:
            Whether the lr was decayed.
        """
        if not math.isfinite(mean_loss):  # nothing to compare: the next pass uses the last
            return False                   # finite mean
        previous, self.previous_loss = self.previous_loss, float(mean_loss)
        if self.factor is None or self.factor == 1.0 or previous is None:
            return False
        fall = previous - mean_loss
        if fall >= self.min_delta or fall >= self.min_rel_delta * abs(previous):
            return False
        for group in optimizer.param_groups:
            group['lr'] *= self.factor
        return True

    def state_dict(self) -> dict:
        """What :meth:`load_state_dict` needs to continue a phase."""
        return {'previous_loss': self.previous_loss}

    def load_state_dict(self, state: dict) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        self.previous_loss = state.get('previous_loss')
