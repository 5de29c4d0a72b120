"""The TST schedule: search phases of augmenter-only passes between student epochs."""
import logging
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from torch import nn
from torch.utils.data import DataLoader

from ..errors import refuses_unknown_settings
from ..registry import LOOPS
from .checkpoint_guard import resume_from_last_good_checkpoint
from .tst_search_mixin import STATE_KEY, TSTSearchMixin

__all__ = ['TSTEpochBasedTrainLoop', 'STATE_KEY']


@LOOPS.register_module()
@refuses_unknown_settings()
class TSTEpochBasedTrainLoop(TSTSearchMixin, EpochBasedTrainLoop):
    """Epoch-based training with TST's search phases.

    A search phase is ``search_passes`` extra passes over the training data before the given
    epochs, in which only the augmenter is trained (the distiller's ``search_step``).
    They are *extra*: they do not count as student epochs, do not step the student's
    parameter schedulers and do not run the standard per-iteration hooks, matching the
    paper's accounting (e.g. CIFAR-100: 240 student epochs plus 2 x 30 search passes).
    In ``online`` mode, ``steps`` search steps also run after every ``interval`` distillation
    iterations, on the batch just used.

    Why a loop and not a hook: search passes iterate the dataloader on their own and must not
    advance the epoch and iteration counters that schedulers, checkpoints and logging use.

    Resume: the loop saves a checkpoint after every search pass (``search_checkpoint``) and
    keeps its progress in the message hub (saved with every checkpoint). Random state is
    re-seeded from ``(seed, epoch, pass)`` at each pass and epoch boundary, so a run resumed
    from such a checkpoint continues exactly as the uninterrupted run would. Exact resume
    holds at these boundaries only: the epoch checkpoints of ``CheckpointHook`` and the
    search-pass checkpoints. A checkpoint taken in the middle of an epoch
    (``CheckpointHook(by_epoch=False)``) resumes, as in mmengine's ``EpochBasedTrainLoop``,
    by running that epoch again from its first batch, so the resumed run differs from an
    uninterrupted one. For exact resume from any iteration, use the iteration-based
    ``tst_mm.TSTIterBasedTrainLoop`` (it skips the batches already drawn and re-seeds every
    iteration).

    Custom hook points, called on hooks that define them: ``before_search_phase(runner,
    epoch)``, ``after_search_iter(runner, batch_idx, data_batch, outputs)``,
    ``after_search_pass(runner, epoch, pass_idx)``, ``after_search_phase(runner, epoch)``.

    Args:
        runner: The runner.
        dataloader: The training dataloader (or its config).
        max_epochs: Student training epochs.
        search_epochs: Epochs (0-based) before which a search phase runs; ``[6, 12]`` runs
            phases after 6 and 12 completed epochs.
        search_passes: Passes over the data per search phase.
        online: ``dict(interval=n, steps=k)``: k search steps every n distillation iterations.
        search_checkpoint: Save a checkpoint after each search pass.
        log_interval: Log search losses every this many search iterations.
        search_optim: Keyword arguments of ``tst_mm.engine.SearchOptimController``: how the
            augmenter's optimizer is reset per phase and decayed on a plateau (default: the
            authors' rules, ``dict(reset_each_phase=True, factor=0.9, min_delta=0.02,
            min_rel_delta=0.02)``; ``factor=None`` switches the decay off).
        preflight: Before training, run one search and one distillation step on the first
            batch and undo them (``tst_mm.engine.preflight``), so that what the search phase
            cannot handle fails in the first minute.
        val_begin, val_interval, dynamic_intervals: As ``EpochBasedTrainLoop``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_epochs: int,
                 search_epochs: Sequence[int] = (),
                 search_passes: int = 1,
                 online: Optional[dict] = None,
                 search_checkpoint: bool = True,
                 log_interval: int = 10,
                 search_optim: Optional[dict] = None,
                 preflight: bool = True,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals=None) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval,
                         dynamic_intervals)
        self.search_epochs = self._init_search('search_epochs', search_epochs, max_epochs,
                                               search_passes, online, search_checkpoint,
                                               log_interval, search_optim, preflight)
        self._start_checked = False

    # ------------------------------------------------------------------ schedule
    def run(self) -> nn.Module:
        """Train: the checks before training and the preflight first, then the epochs."""
        self._start_training()
        with resume_from_last_good_checkpoint(self.runner):
            return super().run()

    def mid_epoch_resume_warning(self) -> Optional[str]:
        """The warning for a run resumed from a checkpoint inside an epoch, else ``None``."""
        expected = self._epoch * len(self.dataloader)
        if self._iter == expected:
            return None
        return (f'resumed at iteration {self._iter}, inside epoch {self._epoch + 1} (which '
                f'starts at iteration {expected}): a mid-epoch checkpoint. The epoch restarts '
                'from its first batch, so this run will not match an uninterrupted one; '
                'checkpoint at epoch ends (and search passes), or use '
                'tst_mm.TSTIterBasedTrainLoop, which resumes exactly from any iteration')

    def run_epoch(self) -> None:
        """Run the search phase due before this epoch (if any), then the student epoch."""
        if not self._start_checked:
            self._start_checked = True
            warning = self.mid_epoch_resume_warning()
            if warning is not None:
                print_log(warning, logger='current', level=logging.WARNING)
        state = self._state()
        self.search_iter = state['search_iter']
        self._run_phase_due(self._epoch)
        self._reseed(self._epoch, -1)
        super().run_epoch()

    def run_iter(self, idx, data_batch) -> None:
        """A distillation iteration, followed by online search steps when they are due."""
        self._distill_iter(idx, data_batch)
        self._online_search(idx, data_batch)

    def _pass_batches(self, position: int, pass_idx: int) -> Iterable[Tuple[int, object]]:
        """One pass over the dataloader, in a distinct, reproducible order per pass."""
        sampler = getattr(self.dataloader, 'sampler', None)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(10_000 + 100 * position + pass_idx)
        return enumerate(self.dataloader)

    def _pass_length(self) -> int:
        return len(self.dataloader)
