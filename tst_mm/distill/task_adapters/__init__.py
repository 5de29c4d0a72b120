"""One adapter per task: what TST needs to know about a classifier, detector or segmenter.

Adapters are registered in ``tst_mm.registry.TASK_ADAPTERS``; :func:`adapter_for` picks the
first, in registration order, whose ``matches(model)`` is true. The built-in ones (registered
when this package is imported, so before any of a user's) match disjoint mm base classes.
"""
from torch import nn

from ...errors import UnsupportedModelError
from ...registry import TASK_ADAPTERS
from .base import TaskAdapter, call_distill_loss, total_task_loss
from .classification import ClassificationAdapter
from .detection import DetectionAdapter
from .segmentation import SegmentationAdapter

__all__ = [
    'TaskAdapter', 'ClassificationAdapter', 'DetectionAdapter', 'SegmentationAdapter',
    'call_distill_loss', 'total_task_loss', 'adapter_for'
]


def adapter_for(model: nn.Module) -> TaskAdapter:
    """A new adapter of the first registered type that handles ``model``.

    Raises:
        UnsupportedModelError: If no registered adapter matches the model.
    """
    for adapter_type in TASK_ADAPTERS.module_dict.values():
        if adapter_type.matches(model):
            return adapter_type()
    raise UnsupportedModelError(
        f'{type(model).__name__} is not a supported student/teacher type: no task adapter '
        f'matches it (registered: {list(TASK_ADAPTERS.module_dict)}); tst_mm supports '
        'mmpretrain ImageClassifier, mmdet detectors and mmseg segmentors, and others through '
        'an adapter registered in tst_mm.registry.TASK_ADAPTERS')
