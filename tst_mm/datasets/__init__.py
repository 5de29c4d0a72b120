"""Datasets of tst-mm: the generated detection and segmentation scenes, and samplers."""
from ..utils.optional_imports import optional_module_missing
from .repeated_views_sampler import RepeatedViewsSampler

try:  # mmdet and mmseg need mmcv's compiled ops; a classification-only environment may lack them
    from .scene_detection import SceneCocoDataset
except ImportError as err:
    if not optional_module_missing(err):
        raise
    SceneCocoDataset = None
try:
    from .scene_segmentation import DigitSceneSegDataset, SceneSegDataset
except ImportError as err:
    if not optional_module_missing(err):
        raise
    DigitSceneSegDataset = SceneSegDataset = None

__all__ = ['SceneCocoDataset', 'SceneSegDataset', 'DigitSceneSegDataset', 'RepeatedViewsSampler']
