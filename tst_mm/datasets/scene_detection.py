"""mmdet dataset for the COCO-format scenes made by ``tools/data/make_scenes.py``."""
import json
import os.path as osp

from mmdet.datasets import CocoDataset

from tst_mm.errors import ConfigFileNotFoundError
from tst_mm.registry import DATASETS

__all__ = ['SceneCocoDataset']


@DATASETS.register_module()
class SceneCocoDataset(CocoDataset):
    """A ``CocoDataset`` whose class names come from its annotation file's categories.

    The scenes hold Fashion-MNIST garments, or MNIST digits where the garments were not
    available, so the class names depend on how the data was made; reading them from the
    file keeps one config valid for both. Give ``metainfo=dict(classes=...)`` to override.
    """

    METAINFO = dict(classes=())

    def __init__(self, *args, ann_file: str = '', data_root: str = '', **kwargs) -> None:
        if 'metainfo' not in kwargs or not kwargs['metainfo']:
            path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
            if not osp.isfile(path):
                raise ConfigFileNotFoundError(
                    f'annotation file {path} not found; make the scenes with '
                    '`python tools/data/make_scenes.py --out data/scenes`')
            with open(path) as f:
                categories = sorted(json.load(f)['categories'], key=lambda cat: cat['id'])
            kwargs['metainfo'] = dict(classes=tuple(cat['name'] for cat in categories))
        super().__init__(*args, ann_file=ann_file, data_root=data_root, **kwargs)
