"""mmseg datasets for the Cityscapes-layout scenes made by ``tools/data/make_scenes.py``.

The scenes are real Fashion-MNIST garments (or MNIST digits) pasted onto real photos; their
label maps (``*_gtFine_labelTrainIds.png``) hold 0 for background and 1..10 for the objects.
A config points ``data_root`` at ``OUT/cityscapes`` and picks a split with ``data_prefix``::

    train_dataloader = dict(dataset=dict(
        type='tst_mm.SceneSegDataset', data_root='data/scenes/cityscapes',
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=[...]))

Use ``tst_mm.DigitSceneSegDataset`` for scenes made from MNIST digits (``meta.json`` says
``"source": "mnist"``); mmseg only accepts class names that are a subset of ``METAINFO``.

Label check: every sample's label ids are checked lazily, when the sample is fetched (after the
pipeline, on the map it produced, a few vectorised comparisons), rather than by reading every
map at start-up. An id outside ``[0, num_classes)`` that is not ``ignore_index`` (255) raises a
``ValueError`` that names the label file and the offending ids. ``check_labels=False`` turns it
off.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from mmseg.datasets import BaseSegDataset

from tst_mm.registry import DATASETS

FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
                         'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
DIGIT_CLASSES = tuple(str(d) for d in range(10))
# background, then one colour per object class (the palette make_scenes.py writes to meta.json)
SCENE_PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                 [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                 [210, 245, 60], [250, 190, 212]]


def _label_array(results: Any) -> np.ndarray | None:
    """Find the label map in what a pipeline returned (packed or not), as a numpy array."""
    if not isinstance(results, dict):
        return None
    sample = results.get('data_samples')
    if sample is not None and hasattr(sample, 'gt_sem_seg'):
        data = sample.gt_sem_seg.data
        return data.cpu().numpy() if hasattr(data, 'cpu') else np.asarray(data)
    if 'gt_seg_map' in results:
        return np.asarray(results['gt_seg_map'])
    return None


@DATASETS.register_module()
class SceneSegDataset(BaseSegDataset):
    """Semantic segmentation of Fashion-MNIST garments pasted on real photos.

    Cityscapes file layout: ``<img_path>/<city>/<name>_leftImg8bit.png`` with label maps
    ``<seg_map_path>/<city>/<name>_gtFine_labelTrainIds.png``; class 0 is the background.

    Args:
        check_labels: check each fetched sample's label ids (see the module docstring).
        **kwargs: passed to :class:`mmseg.datasets.BaseSegDataset`.
    """

    METAINFO = dict(classes=('background', ) + FASHION_MNIST_CLASSES, palette=SCENE_PALETTE)

    def __init__(self,
                 img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 reduce_zero_label: bool = False,
                 check_labels: bool = True,
                 **kwargs) -> None:
        self.check_labels = check_labels
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on sample ``idx`` and check its label ids.

        Args:
            idx: sample index.

        Returns:
            What the pipeline returned.

        Raises:
            ValueError: when the label map holds an id outside ``[0, num_classes)`` that is
                not ``ignore_index``; the message names the file and the ids.
        """
        results = super().prepare_data(idx)
        if self.check_labels:
            labels = _label_array(results)
            if labels is not None:
                num_classes = len(self.metainfo['classes'])
                bad = (labels >= num_classes) & (labels != self.ignore_index)
                if bad.any():
                    ids = sorted(int(v) for v in np.unique(labels[bad]))
                    path = self.get_data_info(idx).get('seg_map_path', '<unknown file>')
                    raise ValueError(
                        f'{path}: label ids {ids} are outside [0, {num_classes}) and not the '
                        f'ignore index {self.ignore_index}; {type(self).__name__} has '
                        f'{num_classes} classes (background + objects)')
        return results


@DATASETS.register_module()
class DigitSceneSegDataset(SceneSegDataset):
    """:class:`SceneSegDataset` for scenes made from MNIST digits (classes '0'..'9')."""

    METAINFO = dict(classes=('background', ) + DIGIT_CLASSES, palette=SCENE_PALETTE)
