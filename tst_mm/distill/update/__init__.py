"""Everything that updates a TST part, in one place.

- :mod:`.guard`: :class:`GuardedUpdate`, the backward pass and optimizer step of one part
  (the student in a distillation step, the augmenter in a search step) that every rank
  applies or skips together, and :class:`SkipCounter`, the skips of one part and when to
  give up (:class:`TrainingDiverged`).
- :mod:`.part`: :class:`OptimizedPart`, one per part a distiller optimizes: its wrapper, its
  guarded update and its skips; the part names (:data:`STUDENT`, :data:`AUGMENTER`).
- :mod:`.search_part`: :class:`SearchPart`, the augmenter's part, which also applies its
  optimizer's phase rules when the loops say a search phase starts or a pass ends.
- :mod:`.grad_sync`: :func:`sync_gradients`, the gradient average over ranks that
  :class:`GuardedUpdate` runs before each step.
- :mod:`.search_optim`: :class:`SearchOptimController`, those phase rules: the optimizer's
  reset at each search phase and lr decay on a plateau.
"""
from .grad_sync import sync_gradients
from .guard import GuardedUpdate, SkipCounter, TrainingDiverged
from .part import AUGMENTER, PART_NAMES, STUDENT, OptimizedPart
from .search_optim import SearchOptimController
from .search_part import SearchPart

__all__ = ['GuardedUpdate', 'SkipCounter', 'TrainingDiverged', 'OptimizedPart', 'SearchPart',
           'STUDENT', 'AUGMENTER', 'PART_NAMES', 'sync_gradients', 'SearchOptimController']
