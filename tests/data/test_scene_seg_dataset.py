"""Tests of tst_mm.SceneSegDataset on scenes made by tools/data/make_scenes.py.

mmseg is a hard dependency: without it these tests fail (they are never skipped).
"""
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

TOOLS = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'tools', 'data')
sys.path.insert(0, TOOLS)
import make_scenes  # noqa: E402

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


@pytest.fixture(scope='module')
def cityscapes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('scenes') / 'out')
    assert make_scenes.main(['--out', root, '--num-train', '4', '--num-val', '2', '--size', '64',
                             '--source', 'mnist']) == 0
    return osp.join(root, 'cityscapes')


def build(data_root, split='train', type_='tst_mm.SceneSegDataset', **kwargs):
    """Build the dataset from a config dict through mmseg's registry, as a config would."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    import tst_mm  # noqa: F401  (registers the dataset)

    init_default_scope('mmseg')
    return DATASETS.build(dict(type=type_, data_root=data_root,
                               data_prefix=dict(img_path=f'leftImg8bit/{split}',
                                                seg_map_path=f'gtFine/{split}'),
                               pipeline=PIPELINE, **kwargs))


def test_loads_a_sample(cityscapes):
    from tst_mm.datasets import SceneSegDataset

    ds = build(cityscapes)
    assert isinstance(ds, SceneSegDataset) and len(ds) == 4
    assert ds.metainfo['classes'][0] == 'background' and len(ds.metainfo['classes']) == 11
    assert len(ds.metainfo['palette']) == 11
    sample = ds[0]
    info = ds.get_data_info(0)
    assert info['img_path'].endswith('_leftImg8bit.png')
    assert info['seg_map_path'].endswith('_gtFine_labelTrainIds.png')
    assert tuple(sample['inputs'].shape) == (3, 64, 64)
    seg = sample['data_samples'].gt_sem_seg.data.numpy()[0]
    expected = np.asarray(Image.open(info['seg_map_path']))
    np.testing.assert_array_equal(seg, expected)
    assert seg.max() <= 10 and (seg > 0).any()
    val = build(cityscapes, 'val', type_='tst_mm.DigitSceneSegDataset', test_mode=True)
    assert len(val) == 2 and val.metainfo['classes'][1] == '0'
    assert val[1]['data_samples'].gt_sem_seg.data.max() <= 10


def test_bad_label_id_names_file_and_id(cityscapes, tmp_path):
    broken = str(tmp_path / 'cityscapes')
    shutil.copytree(cityscapes, broken)
    ds = build(broken)
    path = ds.get_data_info(1)['seg_map_path']
    label = np.array(Image.open(path))
    label[0, 0], label[0, 1], label[0, 2] = 42, 255, 11
    Image.fromarray(label).save(path)
    with pytest.raises(ValueError, match=r'labelTrainIds\.png: label ids \[11, 42\]'):
        ds[1]
    ds[0]  # other samples still load
    ds.check_labels = False
    ds[1]
