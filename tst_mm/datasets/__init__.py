"""Datasets of tst-mm."""
from .scene_segmentation import DigitSceneSegDataset, SceneSegDataset

__all__ = ['SceneSegDataset', 'DigitSceneSegDataset']
