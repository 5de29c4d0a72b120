"""The Cityscapes TST configs (on installed mmseg configs) and their scene twins build."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.distill.task_adapters import SegmentationAdapter
from tst_mm.registry import MODELS

CITYSCAPES = sorted(glob.glob(osp.join(ROOT, 'configs/tst/*cityscapes*.py')))
DEMOS = [osp.join(ROOT, 'configs/demo/tst_pspnet_scenes.py'),
         osp.join(ROOT, 'configs/demo/tst_deeplabv3_scenes.py')]


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Other test modules may leave mmpretrain / mmdet as the process-wide default scope."""
    init_default_scope('mmseg')
    DefaultScope.overwrite_default_scope('mmseg').__enter__()
    yield


def test_both_cityscapes_pairs_are_there():
    names = [osp.basename(path) for path in CITYSCAPES]
    assert names == ['deeplabv3_r101-d8_r18-d8_cityscapes-512x1024.py',
                     'pspnet_r101-d8_r18-d8_cityscapes-512x1024.py']


@pytest.mark.parametrize('path', CITYSCAPES, ids=osp.basename)
def test_cityscapes_config_builds_without_downloads(path):
    cfg = Config.fromfile(path)
    assert cfg.model.teacher_ckpt.startswith('https://download.openmmlab.com/mmsegmentation/')
    assert cfg.model.teacher.startswith('mmseg::')
    assert cfg.train_cfg.type == 'tst_mm.TSTIterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 80000
    assert cfg.train_cfg.search_at == [0, 6 * 372, 12 * 372]
    assert cfg.train_cfg.search_iters == 372 and cfg.train_cfg.search_passes == 1
    cfg.model.teacher_ckpt = None  # building does not initialise weights: nothing downloads
    model = MODELS.build(cfg.model)
    assert isinstance(model.adapter, SegmentationAdapter)
    assert model.student.backbone.depth == 18 and model.teacher.backbone.depth == 101
    assert type(model.student.decode_head) is type(model.teacher.decode_head)
    assert model.student.decode_head.num_classes == 19
    assert model.augmenter.geometric_mode == 'compose'
    assert model.distill_losses['decode'].loss_weight == 1.5
    assert model.distill_losses['auxiliary'].loss_weight == 0.5
    assert model.distill_losses['decode'].tau == 1.0
    assert cfg.data_preprocessor.size == (512, 1024)


@pytest.mark.parametrize('path', DEMOS, ids=osp.basename)
def test_scene_demo_config_builds(path):
    cfg = Config.fromfile(path)
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = None
    model = MODELS.build(cfg.model)
    assert isinstance(model.adapter, SegmentationAdapter)
    assert model.student.decode_head.num_classes == 11
    assert model.student.backbone.base_channels * 2 == model.teacher.backbone.base_channels
