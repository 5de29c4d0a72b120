"""One adapter per task: what TST needs to know about a classifier, detector or segmenter.

Adapters are registered in ``tst_mm.registry.TASK_ADAPTERS``; :func:`adapter_type_for` picks
the first, in registration order, whose ``matches(model)`` is true, and :func:`adapter_for`
binds one to a student. The built-in ones (registered when this package is imported, so
before any of a user's) match disjoint mm base classes.
"""
from typing import Mapping, Optional, Type

from torch import nn

from ...errors import UnsupportedModelError
from ...registry import TASK_ADAPTERS
from .base import TaskAdapter, total_task_loss
from .classification import ClassificationAdapter
from .detection import DetectionAdapter
from .segmentation import SegmentationAdapter

__all__ = [
    'TaskAdapter', 'ClassificationAdapter', 'DetectionAdapter', 'SegmentationAdapter',
    'total_task_loss', 'adapter_type_for', 'adapter_for'
]


def adapter_for(student: nn.Module,
                compares: Optional[Mapping[str, Optional[str]]] = None) -> TaskAdapter:
    """An adapter of the first registered type that handles ``student``, bound to it.

    Args:
        student: The student model.
        compares: What each KD loss compares (see :class:`TaskAdapter`).

    Raises:
        UnsupportedModelError: If no registered adapter matches the model.
    """
    return adapter_type_for(student)(student, compares)


def adapter_type_for(model: nn.Module) -> Type[TaskAdapter]:
    """The first registered adapter type that handles ``model``.

    Raises:
        UnsupportedModelError: If no registered adapter matches the model.
    """
    for adapter_type in TASK_ADAPTERS.module_dict.values():
        if adapter_type.matches(model):
            return adapter_type
    raise UnsupportedModelError(
        f'{type(model).__name__} is not a supported student/teacher type: no task adapter '
        f'matches it (registered: {list(TASK_ADAPTERS.module_dict)}); tst_mm supports '
        'mmpretrain ImageClassifier, mmdet detectors and mmseg segmentors, and others through '
        'an adapter registered in tst_mm.registry.TASK_ADAPTERS')
