"""The TST schedule for iteration-based training (mmseg's 80k-iteration recipes)."""
import logging
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from torch.utils.data import DataLoader

from ..errors import ConfigError, refuses_unknown_settings
from ..registry import LOOPS
from .checkpoint_guard import resume_from_last_good_checkpoint
from .tst_search_mixin import TSTSearchMixin

__all__ = ['TSTIterBasedTrainLoop']


@LOOPS.register_module()
@refuses_unknown_settings()
class TSTIterBasedTrainLoop(TSTSearchMixin, IterBasedTrainLoop):
    """Iteration-based training with TST's search phases.

    The twin of ``tst_mm.TSTEpochBasedTrainLoop`` for iteration-based configs. A search
    *pass* is ``search_iters`` search steps (the distiller's ``search_step``: only the
    augmenter is trained); a search *phase* is ``search_passes`` passes, run before the
    student iterations listed in ``search_at`` (``search_at=[0, 2232]``: before the first
    iteration and after 2232 completed ones). Search steps are *extra*: they do not count as
    student iterations, do not step the parameter schedulers and do not run the standard
    per-iteration hooks. To reproduce an epoch-based schedule, take ``search_iters`` = the
    iterations of one epoch (``ceil(dataset size / total batch size)``) and ``search_at`` =
    the epochs times that number. In ``online`` mode, ``steps`` search steps also run after
    every ``interval`` distillation iterations, on the batch just used.

    Search steps draw their batches from the same infinite data stream as the student
    iterations, so a phase continues the data order rather than restarting it.

    Resume: a checkpoint is saved after every search pass (``search_checkpoint``) and the
    loop's progress — including how many batches the search steps drew — is kept in the
    message hub under the epoch loop's key (saved with every checkpoint). On resume the data
    stream skips all batches drawn so far (student and search), and random state is re-seeded
    from ``(seed, iteration, pass)`` before each search pass and from ``(seed, iteration)``
    before every student iteration, so a run resumed from a search checkpoint *or* from any
    iteration checkpoint (``CheckpointHook(by_epoch=False, interval=n)``, in the middle of a
    distillation phase) continues exactly as the uninterrupted run would. This is the loop to
    use where jobs may be stopped at arbitrary points; ``tst_mm.TSTEpochBasedTrainLoop``
    resumes exactly only from epoch and search-pass boundaries.

    Hook points called on hooks that define them: ``before_search_phase(runner, iter)``,
    ``after_search_iter(runner, batch_idx, data_batch, outputs)``,
    ``after_search_pass(runner, iter, pass_idx)``, ``after_search_phase(runner, iter)``.

    Args:
        runner: The runner.
        dataloader: The training dataloader (or its config).
        max_iters: Student training iterations.
        search_at: Iterations (0-based counts of completed student iterations) before which
            a search phase runs.
        search_iters: Search steps per pass.
        search_passes: Passes per search phase.
        online: ``dict(interval=n, steps=k)``: k search steps every n distillation iterations.
        search_checkpoint: Save a checkpoint after each search pass.
        log_interval: Log search losses every this many search steps.
        search_optim: As for ``tst_mm.TSTEpochBasedTrainLoop``.
        preflight: Before training, run one search and one distillation step on the first
            batch and undo them (``tst_mm.engine.preflight``), so that what the search phase
            cannot handle fails in the first minute.
        val_begin, val_interval, dynamic_intervals: As ``IterBasedTrainLoop``.
    """

    unit = 'iter'

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_iters: int,
                 search_at: Sequence[int] = (),
                 search_iters: int = 1,
                 search_passes: int = 1,
                 online: Optional[dict] = None,
                 search_checkpoint: bool = True,
                 log_interval: int = 10,
                 search_optim: Optional[dict] = None,
                 preflight: bool = True,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        super().__init__(runner, dataloader, max_iters, val_begin, val_interval,
                         dynamic_intervals)
        if search_iters < 1:
            raise ConfigError(f'search_iters must be >= 1, got {search_iters}')
        self.search_iters = int(search_iters)
        self.search_at = self._init_search('search_at', search_at, max_iters, search_passes,
                                           online, search_checkpoint, log_interval,
                                           search_optim, preflight)
        self.search_batches = 0

    # ------------------------------------------------------------------ schedule
    def run(self):
        """Train: the checks before training and the preflight, then the iterations."""
        self._start_training()
        with resume_from_last_good_checkpoint(self.runner):
            return self._run_iters()

    def _run_iters(self):
        """mmengine's ``IterBasedTrainLoop.run``, with the search phase due before a student
        iteration run before its batch is drawn (the search batches come first)."""
        runner = self.runner
        runner.call_hook('before_train')
        # the whole run is one big epoch, as in mmengine
        runner.call_hook('before_train_epoch')
        self._skip_drawn_batches()
        while self._iter < self._max_iters and not self.stop_training:
            self._before_student_iter()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                runner.val_loop.run()
        runner.call_hook('after_train_epoch')
        runner.call_hook('after_train')
        return runner.model

    def _skip_drawn_batches(self) -> None:
        """Before the first batch: the progress saved with the checkpoint, and on resume every
        batch drawn so far skipped, the search steps' first and then the student's."""
        state = self._state()
        self.search_iter = state['search_iter']
        self.search_batches = state.get('search_batches', 0)
        for drawn, what in ((self.search_batches, 'search iterations have already used'),
                            (self._iter, 'has already been trained')):
            if drawn > 0:
                print_log(f'Advance dataloader {drawn} steps to skip the data that {what}',
                          logger='current', level=logging.WARNING)
                for _ in range(drawn):
                    next(self.dataloader_iterator)

    def _before_student_iter(self) -> None:
        """The search phase due before this student iteration (its batches drawn from the
        training stream), then random state from ``(seed, iteration)``: a run resumed from any
        iteration checkpoint draws the same augmentations as the uninterrupted run."""
        self._run_phase_due(self._iter)
        self._reseed(self._iter, -1)
        self.runner.model.train()

    def run_iter(self, data_batch: Sequence[dict]) -> None:
        """A distillation iteration, followed by online search steps when they are due."""
        idx = self._iter
        self._distill_iter(idx, data_batch)
        self._online_search(idx, data_batch)

    # ------------------------------------------------------------------ search passes
    def _pass_batches(self, position: int, pass_idx: int) -> Iterable[Tuple[int, object]]:
        """``search_iters`` batches from the training stream."""
        for idx in range(self.search_iters):
            batch = next(self.dataloader_iterator)
            self.search_batches += 1
            yield idx, batch

    def _pass_length(self) -> int:
        return self.search_iters

    def _extra_state(self) -> dict:
        return {'search_batches': getattr(self, 'search_batches', 0)}

