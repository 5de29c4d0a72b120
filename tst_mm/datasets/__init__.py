"""Datasets of tst-mm: the generated detection and segmentation scenes, and samplers."""
from .repeated_views_sampler import RepeatedViewsSampler
from .scene_detection import SceneCocoDataset
from .scene_segmentation import DigitSceneSegDataset, SceneSegDataset

__all__ = ['SceneCocoDataset', 'SceneSegDataset', 'DigitSceneSegDataset', 'RepeatedViewsSampler']
