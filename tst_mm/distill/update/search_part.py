"""The augmenter's optimized part: its updates, and its optimizer's rules across search phases."""
from typing import Optional

from mmengine.optim import OptimWrapperDict

from .part import OptimizedPart
from .search_optim import SearchOptimController

__all__ = ['SearchPart']


class SearchPart(OptimizedPart):
    """An :class:`OptimizedPart` trained in search phases, whose optimizer follows phase rules.

    The loops say where a phase starts (:meth:`start_phase`) and where a pass of it ends
    (:meth:`end_pass`, with the pass's mean search loss); the part applies its
    :attr:`phase_rules` to its own optimizer. What the rules remember between passes is
    :meth:`state_dict`, which the loops save with their progress (the optimizer's own state,
    lr included, is saved by the runner with the wrapper).

    Args:
        wrapper_name, step, keep_params, max_consecutive_skips: As :class:`OptimizedPart`.
        phase_rules: How the optimizer behaves across phases and passes (default: the
            authors' rules, :class:`SearchOptimController` with its defaults); the loops
            replace them with their ``search_optim`` setting when training starts.

    Attributes:
        phase_rules: The :class:`SearchOptimController` in force.
    """

    def __init__(self, wrapper_name: str, step: str, keep_params: bool = False,
                 max_consecutive_skips: int = 20,
                 phase_rules: Optional[SearchOptimController] = None) -> None:
        super().__init__(wrapper_name, step, keep_params=keep_params,
                         max_consecutive_skips=max_consecutive_skips)
        self.phase_rules = phase_rules if phase_rules is not None else SearchOptimController()

    def start_phase(self, optim_wrapper: OptimWrapperDict) -> None:
        """A search phase starts: the rules' reset of the part's optimizer."""
        self.phase_rules.start_phase(self.wrapper(optim_wrapper).optimizer)

    def end_pass(self, optim_wrapper: OptimWrapperDict, mean_loss: float) -> bool:
        """A pass of the phase ended with mean search loss ``mean_loss``: the plateau rule.

        Returns:
            Whether the lr was decayed (by ``phase_rules.factor``, from the next pass on).
        """
        return self.phase_rules.end_pass(self.wrapper(optim_wrapper).optimizer, mean_loss)

    def lr(self, optim_wrapper: OptimWrapperDict) -> float:
        """The lr of the optimizer's first param group (the one the next step uses)."""
        return self.wrapper(optim_wrapper).param_groups[0]['lr']

    def state_dict(self) -> dict:
        """What the rules remember between passes, for :meth:`load_state_dict`."""
        return self.phase_rules.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Continue a phase from the state saved by :meth:`state_dict`."""
        self.phase_rules.load_state_dict(state)
