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
RESNET_COCO = [path for path in COCO if '_r101_r50_' in path]
RTMDET = osp.join(ROOT, 'configs/tst/rtmdet_l_s_coco.py')
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
        'mask-rcnn_r101_r50_coco.py', 'rtmdet_l_s_coco.py'}


def check_runtime(cfg, model) -> None:
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=cfg.optim_wrapper.constructor,
        optim_wrapper_cfg={k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}))
    assert set(optim(model).keys()) == {'student', 'augmenter'}
    assert set(cfg.param_scheduler) == {'student', 'augmenter'}
    assert LOOPS.get(cfg.train_cfg.type) is not None
    assert 'tst_mm' in cfg.custom_imports.imports
    assert model.augmenter.geometric_mode == 'compose'


@pytest.mark.parametrize('path', RESNET_COCO, ids=osp.basename)
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


def zoo_weights(config_name: str) -> str:
    """The model-zoo checkpoint URL of an mmdet config, from the installed metafile."""
    import mmdet
    import yaml
    metafile = osp.join(osp.dirname(mmdet.__file__), '.mim/configs/rtmdet/metafile.yml')
    with open(metafile) as f:
        models = yaml.safe_load(f)['Models']
    return {model['Name']: model['Weights'] for model in models}[config_name]


def test_rtmdet_config_builds():
    """RTMDet-L -> RTMDet-S with the stock RTMDet-S recipe for the student."""
    cfg = Config.fromfile(RTMDET)
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.teacher == 'mmdet::rtmdet/rtmdet_l_8xb32-300e_coco.py'
    assert cfg.model.teacher_ckpt == zoo_weights('rtmdet_l_8xb32-300e_coco')
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    # the toolbox's own schedule
    student = cfg.optim_wrapper.student
    assert student.optimizer == dict(type='AdamW', lr=0.004, weight_decay=0.05)
    assert [s.type for s in cfg.param_scheduler.student] == ['LinearLR', 'CosineAnnealingLR']
    assert cfg.param_scheduler.student[1].begin == 150 and cfg.param_scheduler.student[1].end == 300
    assert cfg.train_cfg.max_epochs == 300 and cfg.train_cfg.dynamic_intervals == [(280, 1)]
    assert cfg.train_cfg.search_epochs == [75, 150] and cfg.train_cfg.search_passes == 1
    hooks = {hook.type: hook for hook in cfg.custom_hooks}
    assert set(hooks) == {'EMAHook', 'PipelineSwitchHook', 'tst_mm.TSTPolicyLoggerHook',
                          'tst_mm.TSTSampleGridHook'}
    assert hooks['PipelineSwitchHook'].switch_epoch == 280
    assert 'CachedMosaic' not in [t.type for t in hooks['PipelineSwitchHook'].switch_pipeline]
    cfg.model.teacher_ckpt = None  # no download in tests
    model = MODELS.build(cfg.model)
    assert type(model.student).__name__ == type(model.teacher).__name__ == 'RTMDet'
    assert model.student.backbone.stem[0].conv.out_channels * 2 == \
        model.teacher.backbone.stem[0].conv.out_channels  # widen 0.5 vs 1.0
    assert isinstance(model.adapter, DetectionAdapter)
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
