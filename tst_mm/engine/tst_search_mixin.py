"""What the epoch- and iteration-based TST loops share: search steps, phases, state, resume."""
import random
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import all_reduce

from ..distill.update import AUGMENTER, SearchOptimController, SearchPart
from ..errors import ConfigError, check_settings
from ..utils.unwrap import unwrap_model
from .search_checkpoints import save_search_checkpoint
from .training_start import prepare_tst_training

__all__ = ['TSTSearchMixin', 'STATE_KEY']

#: Key of the loop's state in the message hub's runtime info (saved in checkpoints).
STATE_KEY = 'tst_search_state'
#: Per loop unit: what one position is called, and the config key of the training length.
UNIT_WORDS = {'epoch': ('epoch', 'max_epochs'), 'iter': ('iteration', 'max_iters')}


class TSTSearchMixin:
    """Search-phase machinery mixed into an mmengine train loop.

    A search phase runs ``search_passes`` passes of search steps (the distiller's
    ``search_step``: only the augmenter is trained) at a position of the schedule; student
    iterations run its ``distill_step`` (:meth:`_distill_iter`). The model is called only
    through :class:`tst_mm.distill.contract.TSTDistillerContract`. The loop
    that mixes this in says what a position and a pass are: :attr:`unit` (``'epoch'`` or
    ``'iter'``, the name of the position in the loop's state, hook keyword arguments and
    checkpoint names), :meth:`_pass_batches` (the batches of one pass) and
    :meth:`_pass_length`.

    Progress lives in the message hub under :data:`STATE_KEY` as
    ``{unit: position of the last phase, 'passes_done': n, 'search_iter': k, 'search_optim':
    {...}}`` (plus what :meth:`_extra_state` adds), so it is saved with every checkpoint.

    The augmenter's part (``distiller.parts['augmenter']``, a
    :class:`~tst_mm.distill.update.SearchPart`) applies its optimizer's phase rules when the
    loop says a phase starts or a pass ends; the loop gives it its ``search_optim`` setting
    (:class:`SearchOptimController`) when training starts. By default, as the authors', the
    optimizer starts every phase fresh and its lr decays x0.9 after a pass that brought the
    mean search loss down by less than 0.02 and less than 2%. After each pass the pass means
    of the search losses and the augmenter lr are logged (``search_pass/*`` scalars and a log
    line).

    Hook points called on hooks that define them, with the position as ``<unit>=``:
    ``before_search_phase``, ``after_search_iter(batch_idx, data_batch, outputs)``,
    ``after_search_pass(pass_idx=...)``, ``after_search_phase``.
    """

    #: Name of a schedule position: ``'epoch'`` or ``'iter'``.
    unit: str = 'epoch'

    def _init_search(self, key: str, positions: Sequence[int], length: int,
                     search_passes: int, online: Optional[dict], search_checkpoint: bool,
                     log_interval: int, search_optim: Optional[dict],
                     preflight: bool) -> List[int]:
        """Check and store the search settings shared by the TST loops.

        Args:
            key: The config key of ``positions`` (``'search_epochs'``, ``'search_at'``).
            positions: Where the search phases run, in the loop's :attr:`unit`.
            length: The training length in that unit (``max_epochs``, ``max_iters``).
            search_passes, online, search_checkpoint, log_interval, search_optim, preflight:
                As the loops take them.

        Returns:
            The positions, sorted.
        """
        positions = sorted(int(position) for position in positions)
        beyond = [position for position in positions if not 0 <= position < length]
        if beyond:
            name, length_key = UNIT_WORDS[self.unit]
            raise ConfigError(f'{key} {beyond} lie outside the training length (0 <= {name} < '
                              f'{length_key}={length}); move or drop them')
        self._positions = positions
        if search_passes < 1:
            raise ConfigError(f'search_passes must be >= 1, got {search_passes}')
        self.search_passes = int(search_passes)
        if online is not None:
            check_settings('train_cfg.online', online, ('interval', 'steps'))
            if online.get('interval', 0) < 1 or online.get('steps', 1) < 1:
                raise ConfigError(f"online must be dict(interval=n >= 1, steps=k >= 1), got "
                                  f'{online}')
        self.online = online
        self.search_checkpoint = search_checkpoint
        self.log_interval = log_interval
        self.preflight = preflight
        self.search_iter = 0
        #: the augmenter part's phase rules, handed to it when training starts
        self._phase_rules = SearchOptimController(**(search_optim or {}))
        self._pass_outputs: List[Dict[str, torch.Tensor]] = []
        return positions

    @property
    def searches(self) -> bool:
        """Whether the loop runs search steps at all (phases or online)."""
        return bool(self._positions or self.online)

    def _start_training(self) -> None:
        """Before the first epoch or iteration: the checks and the preflight
        (:func:`~.training_start.prepare_tst_training`), then the phase rules handed to the
        augmenter's part."""
        distiller = prepare_tst_training(self.runner, self.dataloader, type(self).__name__,
                                         self.preflight, self.searches)
        distiller.parts[AUGMENTER].phase_rules = self._phase_rules

    # ------------------------------------------------------------------ helpers
    def _search_part(self) -> SearchPart:
        """The distiller's augmenter part, whose optimizer follows the phase rules."""
        return unwrap_model(self.runner.model).parts[AUGMENTER]

    def _reseed(self, *keys: int) -> None:
        """Seed python, numpy and torch from the run's seed and a position in the schedule."""
        base = self.runner.seed if self.runner.seed is not None else 0
        seed = hash((int(base), *keys)) % (2**31)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _state(self) -> dict:
        default = {self.unit: -1, 'passes_done': 0, 'search_iter': 0,
                   'search_optim': self._search_part().state_dict(), **self._extra_state()}
        return self.runner.message_hub.get_info(STATE_KEY, default)

    def _set_state(self, **state) -> None:
        state['search_optim'] = self._search_part().state_dict()
        self.runner.message_hub.update_info(STATE_KEY, state)

    def _extra_state(self) -> dict:
        """Loop-specific progress saved with the state (none by default)."""
        return {}

    def _passes_done(self, position: int) -> int:
        """Passes of the phase at ``position`` already run (e.g. before a resume)."""
        state = self._state()
        return state['passes_done'] if state[self.unit] == position else 0

    # ------------------------------------------------------------------ to define
    def _pass_batches(self, position: int, pass_idx: int) -> Iterable[Tuple[int, object]]:
        """``(index, batch)`` pairs of one search pass."""
        raise NotImplementedError

    def _pass_length(self) -> int:
        """Search steps per pass (for log messages)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ search
    def _run_phase_due(self, position: int) -> None:
        """The passes not yet run of the search phase at ``position``, if one is due there."""
        if position in self._positions:
            done = self._passes_done(position)
            if done < self.search_passes:
                self._run_search_phase(position, first_pass=done)

    def _run_search_phase(self, position: int, first_pass: int = 0) -> None:
        """Run passes ``first_pass..search_passes-1`` of the phase at ``position``."""
        runner = self.runner
        runner.call_hook('before_search_phase', **{self.unit: position})
        runner.model.train()
        part = self._search_part()
        if first_pass == 0:
            part.start_phase(runner.optim_wrapper)
        else:  # resumed inside the phase: continue the plateau rule where it was
            part.load_state_dict(self._state().get('search_optim', {}))
        for pass_idx in range(first_pass, self.search_passes):
            self._reseed(position, pass_idx)
            runner.logger.info(f'TST search phase {self._where(position)}: pass '
                               f'{pass_idx + 1}/{self.search_passes}')
            self._pass_outputs = []
            for idx, data_batch in self._pass_batches(position, pass_idx):
                self._search_iter(idx, data_batch, pass_idx)
            self._end_pass(position, pass_idx)
            self._set_state(**{self.unit: position}, passes_done=pass_idx + 1,
                            search_iter=self.search_iter, **self._extra_state())
            if self.search_checkpoint:
                self._save_search_checkpoint(position, pass_idx)
            runner.call_hook('after_search_pass', **{self.unit: position}, pass_idx=pass_idx)
        runner.call_hook('after_search_phase', **{self.unit: position})

    def _pass_means(self) -> Dict[str, float]:
        """Means of the pass's finite search-step outputs, over all ranks (so every rank
        applies the plateau rule to the same number)."""
        keys = sorted(self._pass_outputs[0]) if self._pass_outputs else []
        totals = torch.zeros(len(keys), 2, dtype=torch.float64)
        for i, key in enumerate(keys):  # one host transfer per key and pass, not per step
            values = torch.stack([out[key].double().cpu() for out in self._pass_outputs])
            finite = values[torch.isfinite(values)]
            totals[i, 0], totals[i, 1] = finite.sum(), finite.numel()
        all_reduce(totals)  # in place (on the backend's device and back); a no-op in one process
        return {key: float(total / count) if count else float('nan')
                for key, (total, count) in zip(keys, totals.tolist())}

    def _end_pass(self, position: int, pass_idx: int) -> None:
        """Pass means of the search losses, the plateau rule, and their log line."""
        means = self._pass_means()
        part = self._search_part()
        lr = part.lr(self.runner.optim_wrapper)  # the lr this pass ran with
        decayed = part.end_pass(self.runner.optim_wrapper, means.get('loss', float('nan')))
        scalars = {f'search_pass/{key}': value for key, value in means.items()}
        scalars.update({'search_pass/lr': lr, 'search_pass/position': position,
                        'search_pass/pass': pass_idx})
        self.runner.visualizer.add_scalars(scalars, step=self.search_iter)
        plateau = f' (plateau: x{part.phase_rules.factor} from the next pass)' if decayed else ''
        losses = ', '.join(f'mean {key}: {value:.4f}' for key, value in means.items())
        self.runner.logger.info(f'TST search pass {pass_idx + 1}/{self.search_passes} '
                                f'{self._where(position)}: {losses}, augmenter lr: {lr:.6g}'
                                f'{plateau}')

    def _where(self, position: int) -> str:
        return (f'before epoch {position + 1}' if self.unit == 'epoch' else
                f'at iteration {position}')

    def _online_search(self, idx: int, data_batch) -> None:
        """Online mode: the search steps due after the distillation iteration just run."""
        if self.online is not None and self._iter % self.online['interval'] == 0:
            for _ in range(self.online.get('steps', 1)):
                self._search_iter(idx, data_batch)
            self.runner.model.train()

    def _distill_iter(self, batch_idx: int, data_batch) -> None:
        """One student iteration, as mmengine's loops run one, by ``distill_step``."""
        self.runner.call_hook('before_train_iter', batch_idx=batch_idx, data_batch=data_batch)
        outputs = self.runner.model.distill_step(data_batch,
                                                 optim_wrapper=self.runner.optim_wrapper)
        self.runner.call_hook('after_train_iter', batch_idx=batch_idx, data_batch=data_batch,
                              outputs=outputs)
        self._iter += 1

    def _search_iter(self, idx: int, data_batch, pass_idx: Optional[int] = None) -> None:
        outputs = self.runner.model.search_step(data_batch,
                                                optim_wrapper=self.runner.optim_wrapper)
        if pass_idx is not None:
            self._pass_outputs.append({key: torch.as_tensor(value).detach()
                                       for key, value in outputs.items()})
        self.search_iter += 1
        self._set_state(**{**self._state(), 'search_iter': self.search_iter,
                           **self._extra_state()})
        self.runner.call_hook('after_search_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        if self.search_iter % self.log_interval == 0:
            where = (f'pass {pass_idx + 1}/{self.search_passes} iter {idx + 1}/'
                     f'{self._pass_length()}' if pass_idx is not None else
                     f'online, after iter {self._iter}')
            losses = ', '.join(f'{key}: {float(torch.as_tensor(value).detach()):.4f}'
                               for key, value in outputs.items())
            self.runner.logger.info(f'TST search ({where}) {losses}')

    def _save_search_checkpoint(self, position: int, pass_idx: int) -> None:
        """The resumable checkpoint after a pass (:func:`.save_search_checkpoint`), with
        ``meta`` as the loop stands: resuming re-enters this position and skips the passes
        done."""
        what = (f'the checkpoint of search pass {pass_idx + 1}/{self.search_passes} '
                f'{self._where(position)}')
        save_search_checkpoint(self.runner, self.unit, position, pass_idx, what,
                               meta=dict(epoch=self._epoch, iter=self._iter))
