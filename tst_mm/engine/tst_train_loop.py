"""The TST schedule: search phases of augmenter-only passes between student epochs."""
import os.path as osp
import random
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from ..registry import LOOPS

__all__ = ['TSTEpochBasedTrainLoop']

#: Key of the loop's state in the message hub's runtime info (saved in checkpoints).
STATE_KEY = 'tst_search_state'


@LOOPS.register_module()
class TSTEpochBasedTrainLoop(EpochBasedTrainLoop):
    """Epoch-based training with TST's search phases.

    A search phase is ``search_passes`` extra passes over the training data before the given
    epochs, in which only the augmenter is trained (``TSTDistiller`` in its ``search`` phase).
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
    from such a checkpoint continues exactly as the uninterrupted run would.

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
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals=None) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval,
                         dynamic_intervals)
        self.search_epochs = sorted(int(epoch) for epoch in search_epochs)
        beyond = [epoch for epoch in self.search_epochs if not 0 <= epoch < max_epochs]
        if beyond:
            raise ValueError(f'search_epochs {beyond} lie outside the training length '
                             f'(0 <= epoch < max_epochs={max_epochs}); move or drop them')
        if search_passes < 1:
            raise ValueError(f'search_passes must be >= 1, got {search_passes}')
        self.search_passes = int(search_passes)
        if online is not None:
            unknown = set(online) - {'interval', 'steps'}
            if unknown or online.get('interval', 0) < 1 or online.get('steps', 1) < 1:
                raise ValueError(f"online must be dict(interval=n >= 1, steps=k >= 1), got "
                                 f'{online}')
        self.online = online
        self.search_checkpoint = search_checkpoint
        self.log_interval = log_interval
        self.search_iter = 0

    # ------------------------------------------------------------------ helpers
    @property
    def distiller(self):
        """The TST distiller, whether or not the runner wrapped it for DDP."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def _reseed(self, *keys: int) -> None:
        """Seed python, numpy and torch from the run's seed and a position in the schedule."""
        base = self.runner.seed if self.runner.seed is not None else 0
        seed = hash((int(base), *keys)) % (2**31)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _state(self) -> dict:
        return self.runner.message_hub.get_info(STATE_KEY, dict(epoch=-1, passes_done=0,
                                                                search_iter=0))

    def _set_state(self, **state) -> None:
        self.runner.message_hub.update_info(STATE_KEY, dict(state))

    # ------------------------------------------------------------------ schedule
    def run_epoch(self) -> None:
        """Run the search phase due before this epoch (if any), then the student epoch."""
        state = self._state()
        self.search_iter = state['search_iter']
        if self._epoch in self.search_epochs:
            done = state['passes_done'] if state['epoch'] == self._epoch else 0
            if done < self.search_passes:
                self.run_search_phase(first_pass=done)
        self._reseed(self._epoch, -1)
        super().run_epoch()

    def run_iter(self, idx, data_batch) -> None:
        """A distillation iteration, followed by online search steps when they are due."""
        super().run_iter(idx, data_batch)
        if self.online is not None and self._iter % self.online['interval'] == 0:
            for _ in range(self.online.get('steps', 1)):
                self._search_iter(idx, data_batch)
            self.distiller.set_phase('distill')
            self.runner.model.train()

    def run_search_phase(self, first_pass: int = 0) -> None:
        """Run the remaining passes of the search phase before epoch :attr:`epoch`."""
        runner = self.runner
        runner.call_hook('before_search_phase', epoch=self._epoch)
        runner.model.train()
        for pass_idx in range(first_pass, self.search_passes):
            self._reseed(self._epoch, pass_idx)
            sampler = getattr(self.dataloader, 'sampler', None)
            if hasattr(sampler, 'set_epoch'):  # a distinct, reproducible order per pass
                sampler.set_epoch(10_000 + 100 * self._epoch + pass_idx)
            runner.logger.info(f'TST search phase before epoch {self._epoch + 1}: pass '
                               f'{pass_idx + 1}/{self.search_passes}')
            for idx, data_batch in enumerate(self.dataloader):
                self._search_iter(idx, data_batch, pass_idx)
            self._set_state(epoch=self._epoch, passes_done=pass_idx + 1,
                            search_iter=self.search_iter)
            if self.search_checkpoint:
                self._save_search_checkpoint(pass_idx)
            runner.call_hook('after_search_pass', epoch=self._epoch, pass_idx=pass_idx)
        self.distiller.set_phase('distill')
        runner.call_hook('after_search_phase', epoch=self._epoch)

    def _search_iter(self, idx: int, data_batch, pass_idx: Optional[int] = None) -> None:
        self.distiller.set_phase('search')
        outputs = self.runner.model.train_step(data_batch, optim_wrapper=self.runner.optim_wrapper)
        self.search_iter += 1
        state = self._state()
        self._set_state(epoch=state['epoch'], passes_done=state['passes_done'],
                        search_iter=self.search_iter)
        self.runner.call_hook('after_search_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        if self.search_iter % self.log_interval == 0:
            where = (f'pass {pass_idx + 1}/{self.search_passes} iter {idx + 1}/'
                     f'{len(self.dataloader)}' if pass_idx is not None else
                     f'online, after iter {self._iter}')
            losses = ', '.join(f'{key}: {float(value):.4f}' for key, value in outputs.items())
            self.runner.logger.info(f'TST search ({where}) {losses}')

    def _save_search_checkpoint(self, pass_idx: int) -> None:
        """Save a resumable checkpoint at a pass boundary and point ``last_checkpoint`` at it."""
        filename = f'search_epoch_{self._epoch}_pass_{pass_idx + 1}.pth'
        # meta as the loop stands: resuming re-enters this epoch and skips the passes done
        self.runner.save_checkpoint(self.runner.work_dir, filename,
                                    meta=dict(epoch=self._epoch, iter=self._iter))
        if is_main_process():
            with open(osp.join(self.runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(self.runner.work_dir, filename))
