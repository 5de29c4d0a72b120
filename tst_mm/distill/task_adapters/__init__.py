"""One adapter per task: what TST needs to know about a classifier, detector or segmenter."""
from torch import nn

from .base import TaskAdapter, call_distill_loss, total_task_loss
from .classification import ClassificationAdapter
from .detection import DetectionAdapter, is_detector
from .detection_inversion import InvertedDetectionLosses
from .segmentation import SegmentationAdapter, is_segmentor

__all__ = [
    'TaskAdapter', 'ClassificationAdapter', 'DetectionAdapter', 'InvertedDetectionLosses',
    'SegmentationAdapter', 'call_distill_loss', 'total_task_loss', 'adapter_for'
]


def adapter_for(model: nn.Module) -> TaskAdapter:
    """Pick the adapter for a built mm model by its base class.

    Raises:
        TypeError: If the model is of no supported task.
    """
    if is_detector(model):
        return DetectionAdapter()
    if is_segmentor(model):
        return SegmentationAdapter()
    from mmpretrain.models.classifiers import ImageClassifier
    if isinstance(model, ImageClassifier):
        return ClassificationAdapter()
    raise TypeError(f'{type(model).__name__} is not a supported student/teacher type; tst_mm '
                    'supports mmpretrain ImageClassifier models here')
