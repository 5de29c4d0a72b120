"""The detection TST configs build (student and teacher constructed, no weights downloaded)
and their runtime parts fit the TST machinery."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.distill.task_adapters import DetectionAdapter
from tst_mm.registry import LOOPS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS

COCO = sorted(glob.glob(osp.join(ROOT, 'configs/tst/*_coco.py')))
DEMOS = [osp.join(ROOT, f'configs/demo/tst_{name}_scenes.py')
         for name in ('faster-rcnn', 'retinanet', 'mask-rcnn')]
STUDENTS = {'faster-rcnn': 'FasterRCNN', 'retinanet': 'RetinaNet', 'mask-rcnn': 'MaskRCNN'}


@pytest.fixture(autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')
    DefaultScope.overwrite_default_scope('mmdet').__enter__()
    yield


def test_there_are_coco_configs():
    assert {osp.basename(p) for p in COCO} == {
        'faster-rcnn_r101_r50_coco.py', 'retinanet_r101_r50_coco.py',
        'mask-rcnn_r101_r50_coco.py'}


def check_runtime(cfg, model) -> None:
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=cfg.optim_wrapper.constructor,
        optim_wrapper_cfg={k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}))
    assert set(optim(model).keys()) == {'student', 'augmenter'}
    assert set(cfg.param_scheduler) == {'student', 'augmenter'}
    assert LOOPS.get(cfg.train_cfg.type) is not None
    assert 'tst_mm' in cfg.custom_imports.imports
    assert model.augmenter.geometric_mode == 'compose'


@pytest.mark.parametrize('path', COCO, ids=osp.basename)
def test_coco_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.teacher.startswith('mmdet::') and '_r101_' in cfg.model.teacher
    assert cfg.model.teacher_ckpt.startswith('https://download.openmmlab.com/mmdetection/')
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    cfg.model.teacher_ckpt = None  # no download in tests
    model = MODELS.build(cfg.model)
    name = osp.basename(path).split('_')[0]
    assert type(model.student).__name__ == type(model.teacher).__name__ == STUDENTS[name]
    assert model.student.backbone.depth == 50 and model.teacher.backbone.depth == 101
    assert isinstance(model.adapter, DetectionAdapter)
    assert cfg.train_cfg.max_epochs == 24
    assert cfg.train_cfg.search_epochs == [6, 12] and cfg.train_cfg.search_passes == 1
    check_runtime(cfg, model)


@pytest.mark.parametrize('path', DEMOS, ids=osp.basename)
def test_scenes_demo_config_builds(path):
    cfg = Config.fromfile(path)
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = None
    model = MODELS.build(cfg.model)
    name = osp.basename(path)[len('tst_'):-len('_scenes.py')]
    assert type(model.student).__name__ == STUDENTS[name]
    check_runtime(cfg, model)
