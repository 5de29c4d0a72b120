"""tst-mm: TST data-based knowledge distillation for OpenMMLab.

Importing this package registers every tst-mm module in the ``tst_mm`` registries, so
``custom_imports = dict(imports=['tst_mm'])`` in any mm config is all a user needs.
"""
from . import augment, datasets, distill, engine, losses, search_objectives  # noqa: F401
from .augment import LearnableAugmenter
from .distill import TSTDistiller
from .engine import TSTEpochBasedTrainLoop, TSTIterBasedTrainLoop, TSTOptimWrapperConstructor
from .errors import ConfigError
from .utils import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

__all__ = [
    '__version__', 'ConfigError', 'TSTDistiller', 'LearnableAugmenter', 'TSTEpochBasedTrainLoop',
    'TSTIterBasedTrainLoop', 'TSTOptimWrapperConstructor'
]
