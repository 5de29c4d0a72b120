"""One part that TST optimizes (the student, the augmenter) and everything about its updates."""
from typing import Iterable, Optional

import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from .guard import GuardedUpdate, SkipCounter

__all__ = ['OptimizedPart', 'STUDENT', 'AUGMENTER', 'PART_NAMES']

#: The names of the optimized parts: each is the distiller's submodule, its key in
#: ``distiller.parts`` and the key of its wrapper in the runner's ``OptimWrapperDict`` (and
#: of its settings in the config's ``optim_wrapper`` and ``param_scheduler``).
STUDENT = 'student'
AUGMENTER = 'augmenter'
PART_NAMES = (STUDENT, AUGMENTER)


class OptimizedPart:
    """An optimized part: its optimizer wrapper, how its updates are guarded, and its skips.

    A distiller holds one per part and runs each update of that part through
    :meth:`update`, so the rule of a part (which wrapper steps it, whether a skipped step
    also puts its parameters and optimizer state back, when its skips stop training) is
    stated once. A part whose optimizer also follows rules across the steps of a search
    phase (the augmenter's) is a :class:`~.search_part.SearchPart`.

    Args:
        wrapper_name: The key of the part's wrapper in the runner's ``OptimWrapperDict``.
        step: The step that updates the part, as messages name it (e.g. ``'search'``).
        keep_params: A skipped step also restores the part's parameters and its optimizer's
            state (they are copied before every step: meant for small parts).
        max_consecutive_skips: Skips in a row after which training stops
            (:class:`~.guard.TrainingDiverged`).

    Attributes:
        skips: The part's skipped steps so far.
    """

    def __init__(self, wrapper_name: str, step: str, keep_params: bool = False,
                 max_consecutive_skips: int = 20) -> None:
        self.wrapper_name = wrapper_name
        self.step = step
        self.keep_params = bool(keep_params)
        self.skips = SkipCounter(max_consecutive_skips)

    def wrapper(self, optim_wrapper: OptimWrapperDict) -> OptimWrapper:
        """The part's own wrapper in the runner's ``optim_wrapper``."""
        return optim_wrapper[self.wrapper_name]

    def update(self, optim_wrapper: OptimWrapperDict, module: nn.Module,
               buffers: Optional[Iterable[torch.Tensor]] = None) -> GuardedUpdate:
        """A guarded update of ``module`` (the part) for one step; use it as a context.

        Args:
            optim_wrapper: The runner's ``OptimWrapperDict``.
            module: The part itself.
            buffers: The buffers a skipped step puts back (default: the part's own).
        """
        return GuardedUpdate(self.wrapper(optim_wrapper), module, self.step,
                             keep_params=self.keep_params, buffers=buffers, counter=self.skips)
