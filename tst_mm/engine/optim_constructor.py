"""Build the two optimizers of TST: one for the student, one for the augmenter."""
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn

from ..distill.update import AUGMENTER, PART_NAMES
from ..errors import ConfigError
from ..registry import OPTIM_WRAPPER_CONSTRUCTORS
from ..utils.unwrap import unwrap_model

__all__ = ['TSTOptimWrapperConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TSTOptimWrapperConstructor:
    """Build an ``OptimWrapperDict`` with a ``student`` and an ``augmenter`` wrapper.

    Only the student's and the augmenter's parameters are optimised; the teacher has no
    optimizer at all. Each part's config is an ordinary mm optim wrapper config (including
    ``paramwise_cfg``, ``clip_grad``, ``type='AmpOptimWrapper'``), and param schedulers can be
    given per part: ``param_scheduler=dict(student=[...], augmenter=[...])``.

    Example::

        optim_wrapper = dict(
            constructor='tst_mm.TSTOptimWrapperConstructor',
            student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))

    Args:
        optim_wrapper_cfg: The dict with ``student`` and ``augmenter`` entries.
        paramwise_cfg: Not used at this level (give it inside each part).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None) -> None:
        missing = [part for part in PART_NAMES if part not in optim_wrapper_cfg]
        unknown = [key for key in optim_wrapper_cfg if key not in PART_NAMES]
        if missing or unknown:
            raise ConfigError(
                f'TST optim_wrapper needs exactly the keys {list(PART_NAMES)}; missing '
                f'{missing}, unknown {unknown} (put optimizer settings inside '
                'student=dict(...) and augmenter=dict(...))')
        self.constructors = {
            part: DefaultOptimWrapperConstructor(
                dict(optim_wrapper_cfg[part]),
                optim_wrapper_cfg[part].get('paramwise_cfg', None))
            for part in PART_NAMES
        }
        for part in PART_NAMES:
            self.constructors[part].optim_wrapper_cfg.pop('paramwise_cfg', None)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers for ``model.student`` and ``model.augmenter``."""
        model = unwrap_model(model)  # a DDP-wrapped distiller
        if getattr(model, AUGMENTER, None) is None:
            raise ConfigError('TSTOptimWrapperConstructor needs a model with an augmenter')
        return OptimWrapperDict(**{
            part: self.constructors[part](getattr(model, part)) for part in PART_NAMES})
