"""The preflight: TST's two steps on the first batch, undone, so that late failures come first.

A search phase may start hours into a run (TST's ImageNet schedule searches before epoch 10);
anything only the search step exercises (an inverted loss that refuses the student's sampler,
say) would fail only then. The *preflight* runs one search step and one distillation step on
the first batch before training, then puts back every state they touched, so the run goes on
exactly as it would have without it.
"""
from torch.utils.data import DataLoader

from ..distill.contract import TSTDistillerContract
from ..errors import ConfigError
from ..utils.error_lines import error_line
from ..utils.unwrap import unwrap_model
from .first_batch import first_batch
from .training_state import TrainingState

__all__ = ['PreflightError', 'REFUSALS', 'run_preflight']


class PreflightError(ConfigError):
    """A TST step failed on the first batch; the message names the step and the error."""


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
