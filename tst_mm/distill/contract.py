"""What the TST engine (loops, preflight, DDP wrapper, hooks) may ask of a distiller."""
from abc import ABC, abstractmethod
from typing import Dict, Iterator, List, Optional, Union

import torch
from mmengine.optim import OptimWrapperDict
from torch import nn

__all__ = ['TSTDistillerContract']


class TSTDistillerContract(ABC):
    """The one interface between ``tst_mm.engine`` and a TST distiller.

    The loops run the two kinds of TST step by calling them by name (through
    ``tst_mm.TSTDistributedWrapper`` when launched on several processes); nothing is selected
    by a flag set on the model. ``tst_mm.TSTDistiller`` implements it; another distiller that
    implements it runs under the TST loops unchanged.

    Who calls what:

    - :meth:`search_step`: the loops' search phases and online search steps, and the
      preflight's search step.
    - :meth:`distill_step`: the loops' student iterations (``run_iter``) and the preflight's
      distillation step.
    - :meth:`load_teacher`: the one entry point that builds and loads the teacher; the
      Runner reaches it through ``init_weights`` when training starts, and the first step
      through its own call (tools that step a model without a Runner).
    - :meth:`check_teacher_classes`: the preflight's check of the teacher's class names.
    - :attr:`augmenter`, :attr:`can_search`: the preflight and the hooks (policy logging,
      sample grids, weight averaging).
    - :meth:`buffers_with_teacher`: the DDP wrapper's ``broadcast_buffers`` and the
      preflight's snapshot of everything a step changes.
    - :attr:`parts`: the loops' phase rules (``parts['augmenter']``: ``start_phase``,
      ``end_pass``, ``state_dict``), the preflight's snapshot (each optimized part's skip
      counter), and the checkpoint guard (``tst_mm.engine.checkpoint_guard``: no checkpoint
      is saved while a part's skips in a row are above zero).
    - :meth:`restore_teacher_norm_layers`: the DDP wrapper, after the Runner's ``sync_bn``.

    Attributes:
        augmenter: The learnable augmenter, or ``None`` (then there is nothing to search).
        teacher_classes: Class names the teacher checkpoint records, once
            :meth:`load_teacher` has run (``None`` when it records none).
        parts: The optimized parts (``'student'``, ``'augmenter'``: the names of
            ``tst_mm.distill.update.PART_NAMES``), each a
            ``tst_mm.distill.update.OptimizedPart``: its wrapper, update rule and skips; the
            augmenter's is a ``tst_mm.distill.update.SearchPart``, which also applies its
            optimizer's rules across search phases.
    """

    augmenter: Optional[nn.Module]
    teacher_classes: Optional[tuple]
    parts: Dict[str, object]

    @abstractmethod
    def search_step(self, data: Union[dict, tuple, list],
                    optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One search step: only the augmenter is updated.

        Args:
            data: A batch from the dataloader.
            optim_wrapper: The runner's ``OptimWrapperDict`` (``student``, ``augmenter``).

        Returns:
            Log variables of the step.
        """

    @abstractmethod
    def distill_step(self, data: Union[dict, tuple, list],
                     optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One distillation step: only the student is updated; arguments and return value
        as :meth:`search_step`."""

    @abstractmethod
    def load_teacher(self) -> None:
        """Build the teacher and load its checkpoint, once; every rank must call it."""

    @abstractmethod
    def check_teacher_classes(self, dataset_classes: tuple) -> None:
        """Raise ``ConfigError`` if the loaded teacher's class names (when its checkpoint
        records them) cannot teach on a dataset with ``dataset_classes``."""

    @property
    def can_search(self) -> bool:
        """Whether there is an augmenter for :meth:`search_step` to train."""
        return self.augmenter is not None

    @abstractmethod
    def buffers_with_teacher(self) -> Iterator[torch.Tensor]:
        """Every buffer a step may change, the teacher's included once it is built."""

    @abstractmethod
    def restore_teacher_norm_layers(self) -> List[str]:
        """Undo a SyncBN conversion of the frozen teacher; the names of the layers restored."""
