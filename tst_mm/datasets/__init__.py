"""Datasets of tst-mm: the generated detection and segmentation scenes, and samplers."""
from .repeated_views_sampler import RepeatedViewsSampler

try:  # mmdet and mmseg need mmcv's compiled ops; a classification-only environment may lack them
    from .scene_detection import SceneCocoDataset
    from .scene_segmentation import DigitSceneSegDataset, SceneSegDataset
except ImportError:
    SceneCocoDataset = DigitSceneSegDataset = SceneSegDataset = None

__all__ = ['SceneCocoDataset', 'SceneSegDataset', 'DigitSceneSegDataset', 'RepeatedViewsSampler']
