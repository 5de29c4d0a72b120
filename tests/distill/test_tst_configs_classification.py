"""The paper-setting classification configs build (student and teacher constructed, no
weights downloaded), and their runtime parts fit the TST machinery."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.registry import LOOPS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/tst/*_in1k.py')))


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


def test_there_are_in1k_configs():
    assert {osp.basename(p) for p in CONFIGS} == {
        'resnet34_resnet18_in1k.py', 'resnet50_mobilenet-v2_in1k.py'}


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_in1k_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.model.teacher_ckpt.startswith('https://download.openmmlab.com/')
    cfg.model.teacher_ckpt = None  # no download in tests
    model = MODELS.build(cfg.model)
    assert type(model.student).__name__ == 'ImageClassifier'
    assert model.student.head.num_classes == model.teacher.head.num_classes == 1000
    assert sum(p.numel() for p in model.teacher.parameters()) > sum(
        p.numel() for p in model.student.parameters())
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=cfg.optim_wrapper.constructor,
        optim_wrapper_cfg={k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}))
    wrappers = optim(model)
    assert set(wrappers.keys()) == {'student', 'augmenter'}
    assert set(cfg.param_scheduler) == {'student', 'augmenter'}
    assert LOOPS.get(cfg.train_cfg.type) is not None
    assert cfg.train_cfg.search_epochs == [10, 25] and cfg.train_cfg.search_passes == 5
