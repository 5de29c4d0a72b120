"""Weight-averaging hooks (``EMAHook`` and its kin) average the student, not the augmenter."""
from itertools import chain

from mmengine.model import BaseAveragedModel

from ..utils.unwrap import unwrap_model

__all__ = ['keep_augmenter_out_of_averages']


def keep_augmenter_out_of_averages(runner) -> int:
    """Make every averaged copy of the distiller hold the live augmenter, not an average.

    An ``EMAHook`` copies the whole model before training and averages each of its tensors
    after every training iteration; checkpoints then carry the averaged tensors under
    ``state_dict`` (the live ones under ``ema_state_dict``). The student should be averaged
    (validation, tests and the exported checkpoint see the averaged student), but the
    augmenter only changes in search phases: averaged over thousands of steps with a small
    momentum it stays near its initial policy, which checkpoints would then carry instead of
    the learned one. Here each averaged copy's augmenter shares the live augmenter's tensors
    and leaves the averaging, so validation swaps, checkpoints and resumes all see the
    learned policy. The teacher is never part of a copy (see ``TSTDistiller``).

    Args:
        runner: The runner, after its ``before_run`` hooks (which make the copies).

    Returns:
        How many averaged copies were changed.
    """
    augmenter = getattr(unwrap_model(runner.model), 'augmenter', None)
    changed = 0
    for hook in runner.hooks:
        averaged = getattr(hook, 'ema_model', None)
        copy = getattr(getattr(averaged, 'module', None), 'augmenter', None)
        if augmenter is None or not isinstance(averaged, BaseAveragedModel) or copy is None:
            continue
        for mine, live in zip(chain(copy.parameters(), copy.buffers()),
                              chain(augmenter.parameters(), augmenter.buffers())):
            mine.data = live.data
        averaged.avg_parameters = {key: value for key, value in averaged.avg_parameters.items()
                                   if not key.startswith('augmenter.')}
        changed += 1
    return changed
