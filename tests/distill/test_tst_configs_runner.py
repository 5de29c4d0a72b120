"""Every config of configs/tst goes through a stock mmengine ``Runner.from_cfg`` (not trained):
it builds its distiller, the teacher left for training to build, carries the wrapper that stock
launchers need, and the config the runner writes to its work_dir loads back the same.

The configs inherit their TST parts from configs/_base_/tst_*.py or another pair and state no
constructor default; the built distillers are checked for the values the configs used to spell
out."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.distill import TSTDistiller
from tst_mm.losses import InvertedDetectionLosses
from tst_mm.search_objectives import PaperSearchObjective

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/tst/*.py')))


def test_every_pair_is_there():
    assert len(CONFIGS) == 8


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_round_trips_through_a_stock_runner(path, tmp_path):
    cfg = Config.fromfile(path)
    assert cfg.model_wrapper_cfg == dict(type='tst_mm.TSTDistributedWrapper')
    assert 'tst' not in cfg  # the inherited TST parts are in place, not kept twice
    scope = cfg.default_scope  # mmengine's scope is process-wide: set it for this toolbox
    init_default_scope(scope)
    DefaultScope.overwrite_default_scope(scope).__enter__()
    cfg.work_dir = str(tmp_path)

    runner = Runner.from_cfg(cfg)
    model = runner.model
    assert isinstance(model, TSTDistiller)
    assert 'teacher' not in model._modules  # checked on a weightless skeleton, built lazily
    assert set(runner.build_optim_wrapper(runner.optim_wrapper).keys()) == {'student',
                                                                         'augmenter'}

    # the values the configs no longer spell out, as the constructors give them
    objective = model.search_objective  # the paper's, at its default weights
    assert isinstance(objective, PaperSearchObjective)
    assert (objective.teacher_weight, objective.weakness_weight) == (1.0, 1.0)
    assert model.augment_ratio == 1.0
    assert model.augmenter.num_ops == 4 and model.augmenter.seg_ignore_index == 255
    assert model.augmenter.geometric_mode == ('blend' if scope == 'mmpretrain' else 'compose')
    for name, loss in model.distill_losses.items():
        assert loss.loss_weight == cfg.model.distill_losses[name].get('loss_weight', 1.0)
    if isinstance(model.weakness_loss, InvertedDetectionLosses):
        assert (model.weakness_loss.targets, model.weakness_loss.regression) == (
            'positives', 'reciprocal')

    dumped = Config.fromfile(osp.join(tmp_path, osp.basename(path)))
    assert dumped.to_dict() == cfg.to_dict()


def test_the_student_stays_editable_from_the_command_line():
    path = osp.join(ROOT, 'configs/tst/faster-rcnn_r101_r50_coco.py')
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({'model.student.backbone.depth': 18,
                         'model.augmenter.num_ops': 2,
                         'optim_wrapper.augmenter.optimizer.lr': 0.05})
    assert cfg.model.student.backbone.depth == 18
    assert cfg.model.augmenter.num_ops == 2
    assert cfg.optim_wrapper.augmenter.optimizer.lr == 0.05
