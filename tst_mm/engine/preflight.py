"""Checks a TST run makes before its first epoch, so that late failures come first.

A search phase may start hours into a run (TST's ImageNet schedule searches before epoch 10);
anything only the search step exercises (an inverted loss that refuses the student's sampler,
say) would fail only then. The *preflight* runs one search step and one distillation step on
the first batch before training, then puts back every state they touched, so the run goes on
exactly as it would have without it.
"""
import copy
import random
from typing import Any, List, Optional

import numpy as np
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.logging.logger import FilterDuplicateWarning
from torch.utils.data import DataLoader

from ..distill.contract import TSTDistillerContract
from ..errors import ConfigError
from ..utils.runner_setup import error_line
from ..utils.unwrap import unwrap_model
from .checkpoint_guard import guard_checkpoint_hooks
from .weight_averaging import keep_augmenter_out_of_averages

__all__ = ['PreflightError', 'first_batch', 'TrainingState', 'REFUSALS', 'run_preflight',
           'check_teacher_classes', 'prepare_tst_training']


class PreflightError(ConfigError):
    """A TST step failed on the first batch; the message names the step and the error."""


def _pipeline_owners(dataset) -> List[Any]:
    """The dataset and the datasets it wraps (``ConcatDataset``, ``RepeatDataset``,
    ``MultiImageMixDataset``, ...) that hold a ``pipeline``."""
    owners, todo = [], [dataset]
    while todo:
        current = todo.pop()
        if hasattr(current, 'pipeline'):
            owners.append(current)
        todo.extend(getattr(current, 'datasets', None) or [])
        if getattr(current, 'dataset', None) is not None:
            todo.append(current.dataset)
    return owners


def first_batch(dataloader: DataLoader, num: Optional[int] = None) -> Any:
    """A batch of the first ``num`` images of the dataset (default: a batch's worth), collated
    as the loader does, leaving no trace in the dataset.

    Neither the loader nor its sampler is iterated: that would start (persistent) workers or
    draw from the shared generator of an infinite sampler and shift the run's data order. The
    samples go through copies of the dataset's pipelines, so that stateful transforms (the
    image caches of mmdet's ``CachedMosaic`` / ``CachedMixUp``) are as they were; the global
    random state is the caller's to keep.
    """
    if num is None:
        batch_sampler = getattr(dataloader, 'batch_sampler', None)
        num = getattr(batch_sampler, 'batch_size', None) or dataloader.batch_size or 1
    dataset = dataloader.dataset
    owners = _pipeline_owners(dataset)
    pipelines = [owner.pipeline for owner in owners]
    try:
        for owner, pipeline in zip(owners, pipelines):
            owner.pipeline = copy.deepcopy(pipeline)
        samples = [dataset[index] for index in range(min(num, len(dataset)))]
    finally:
        for owner, pipeline in zip(owners, pipelines):
            owner.pipeline = pipeline
    return dataloader.collate_fn(samples)


class TrainingState:
    """A copy of everything a TST training step changes, to put back later.

    The distiller's parameters (student, augmenter; the teacher's are frozen) and all its
    buffers (BN statistics, the teacher's included), its counts of skipped steps, each
    optimizer wrapper's state (momentum, AMP loss scale) and step count, the distiller's
    train mode, the python, numpy and torch (CPU and CUDA) random states, the
    runtime info of the message hub, and which warnings mmengine's loggers have already
    shown (they show each warning once: one shown during the steps would be dropped when it
    comes for real).

    Args:
        distiller: The unwrapped distiller.
        optim_wrapper: The runner's ``OptimWrapperDict``.
        message_hub: The runner's message hub, if its runtime info is to be kept.
    """

    def __init__(self, distiller: TSTDistillerContract, optim_wrapper,
                 message_hub: Optional[MessageHub] = None) -> None:
        self.distiller = distiller
        self.optim_wrapper = optim_wrapper
        self.message_hub = message_hub
        tensors: List[torch.Tensor] = [*distiller.parameters(),
                                       *distiller.buffers_with_teacher()]
        self._tensors = [(tensor, tensor.detach().clone()) for tensor in tensors]
        self._wrappers = {name: (copy.deepcopy(wrapper.state_dict()),
                                 getattr(wrapper, '_inner_count', None))
                          for name, wrapper in optim_wrapper.items()}
        self._parts = copy.deepcopy(distiller.parts)
        self._training = distiller.training
        self._rng = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
                     torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None)
        self._info = dict(message_hub.runtime_info) if message_hub is not None else None
        self._seen = [(log_filter, set(log_filter.seen)) for log_filter in _warning_filters()]

    def restore(self) -> None:
        """Put everything back as it was when this was made."""
        with torch.no_grad():
            for tensor, saved in self._tensors:
                tensor.copy_(saved)
        for name, wrapper in self.optim_wrapper.items():
            state, count = self._wrappers[name]
            wrapper.load_state_dict(copy.deepcopy(state))
            wrapper.zero_grad()
            if count is not None:
                wrapper._inner_count = count
        self.distiller.parts = copy.deepcopy(self._parts)
        self.distiller.train(self._training)
        python_state, numpy_state, torch_state, cuda_states = self._rng
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        if self._info is not None:
            info = self.message_hub.runtime_info
            info.clear()
            info.update(self._info)
        for log_filter, seen in self._seen:
            log_filter.seen.clear()
            log_filter.seen.update(seen)


def _warning_filters() -> List[FilterDuplicateWarning]:
    """The duplicate-warning filters of the current mmengine logger's handlers."""
    logger = MMLogger.get_current_instance()
    return [log_filter for handler in logger.handlers for log_filter in handler.filters
            if isinstance(log_filter, FilterDuplicateWarning)]


#: Errors a step raises to refuse a setting, on purpose: the preflight reports them in one
#: line. Any other error (out of memory, a bug) keeps its type and traceback.
REFUSALS = (ConfigError, NotImplementedError)


def run_preflight(runner, dataloader: DataLoader, search: bool = True) -> None:
    """One search step and one distillation step on the first batch, then undo both.

    Runs on every rank (the steps' collectives pair up; a step that raises on one rank makes
    the others raise too instead of waiting). Leaves no trace: the run goes on as it would
    have without it (:class:`TrainingState`, :func:`first_batch`).

    Args:
        runner: The runner (its model is the TST distiller, wrapped or not).
        dataloader: The training dataloader.
        search: Whether to run the search step (runs that never search need not).

    Raises:
        PreflightError: If a step refuses the setting (:data:`REFUSALS`); the message names
            the step and the error's first line. Other errors are raised as they are, with
            a note naming the step.
    """
    model = runner.model  # the distiller, or the wrapper that delegates its steps
    distiller: TSTDistillerContract = unwrap_model(model)
    steps = {'search': model.search_step, 'distill': model.distill_step}
    phases = ['search'] if search and distiller.can_search else []
    phases.append('distill')
    state = TrainingState(distiller, runner.optim_wrapper, runner.message_hub)
    # The preflight runs before the ``before_train`` hooks; heads that read the runtime info
    # (TOOD switches its assigner on ``epoch``) find what RuntimeInfoHook will set there.
    runner.message_hub.update_info('epoch', runner.epoch)
    runner.message_hub.update_info('iter', runner.iter)
    try:
        batch = first_batch(dataloader)
        for phase in phases:
            model.train()
            try:
                steps[phase](batch, optim_wrapper=runner.optim_wrapper)
            except REFUSALS as err:
                raise PreflightError(
                    f'TST preflight: the {phase} step failed on the first batch: '
                    f'{type(err).__name__}: {error_line(err)} (train_cfg.preflight=False '
                    'skips this check; the run would then fail at its first '
                    f'{phase} step)') from err
            except Exception as err:
                err.add_note(f'(raised in the TST preflight, by the {phase} step on the first '
                             'batch)')
                raise
    finally:
        state.restore()
    runner.logger.info(f'TST preflight: {" and ".join(phases)} steps run on the first batch '
                       'and undone')


def check_teacher_classes(distiller: TSTDistillerContract, dataset) -> None:
    """Let the distiller compare its teacher checkpoint's class names with the dataset's.

    Class counts are checked when the models are built; names only become known with the
    teacher checkpoint (``meta.dataset_meta.classes``, or ``meta.CLASSES`` of mmcv-era
    checkpoints) and the training dataset. Nothing is compared when the dataset names none;
    what a difference means is the task's rule (its adapter's ``check_teacher_classes``).

    Raises:
        ConfigError: If the distiller refuses the pair.
    """
    metainfo = getattr(dataset, 'metainfo', None) or {}
    classes = metainfo.get('classes')
    if classes:
        distiller.check_teacher_classes(tuple(classes))


def prepare_tst_training(loop, preflight: bool) -> None:
    """What a TST loop does before its first epoch or iteration.

    Keeps the augmenter out of weight averages (:func:`keep_augmenter_out_of_averages`),
    keeps ``CheckpointHook`` from saving while a part skips its steps
    (:func:`~.checkpoint_guard.guard_checkpoint_hooks`), checks the teacher's class names
    against the training data (the Runner has loaded the teacher: ``Runner.train`` calls the
    distiller's ``init_weights``, which calls its one entry point, ``load_teacher``, before
    the loop runs), then runs the preflight unless ``preflight`` is off (its search step only
    when the loop will search).

    Args:
        loop: The TST train loop (``runner``, ``dataloader``, and ``search_epochs`` or
            ``search_at`` and ``online``).
        preflight: Whether to run :func:`run_preflight`.

    Raises:
        ConfigError: If the runner's model is no TST distiller.
    """
    runner = loop.runner
    distiller: TSTDistillerContract = unwrap_model(runner.model)
    if not isinstance(distiller, TSTDistillerContract):
        raise ConfigError(f'{type(loop).__name__} trains a TST distiller (a '
                          'tst_mm.distill.contract.TSTDistillerContract such as '
                          f'tst_mm.TSTDistiller), not a {type(distiller).__name__}; set '
                          "model.type='tst_mm.TSTDistiller' or use mmengine's own loop")
    keep_augmenter_out_of_averages(runner)
    guard_checkpoint_hooks(runner)
    check_teacher_classes(distiller, loop.dataloader.dataset)
    if preflight:
        searches = bool(getattr(loop, 'search_epochs', None) or getattr(loop, 'search_at', None)
                        or getattr(loop, 'online', None))
        run_preflight(runner, loop.dataloader, search=searches)
