"""The preflight before the first epoch, and the refusals that print one line, not a traceback."""
import glob
import os.path as osp
from typing import Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from torch.utils.data import DataLoader
from tst_testing import ROOT, fashion_runner_cfg
from tst_testing import run_tool_expecting_failure as _fail_tool

import tst_mm  # noqa: F401
from tst_mm.engine.first_batch import first_batch
from tst_mm.engine.preflight import run_preflight
from tst_mm.registry import DATASETS, MODELS
from tst_mm.utils import ConfigError

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')
DET_TST_CONFIG = 'configs/demo/tst_faster-rcnn_scenes.py'
DET_TEACHER = osp.join(ROOT, 'configs/demo/faster-rcnn_r18-tiny_scenes.py')


pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def _train(teacher_ckpt, data_root, work_dir, preflight: bool) -> Tuple[Runner, int]:
    """A run, and how many times its student's backbone ran."""
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', teacher_ckpt, data_root,
                             work_dir, 'preflight')
    cfg.train_cfg.update(max_epochs=2, search_epochs=[0, 1], search_passes=2,
                         preflight=preflight)
    cfg.param_scheduler.student[0].end = 2
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    runner = Runner.from_cfg(cfg)
    forwards = _count_forwards(runner.model.student.backbone)
    runner.train()
    return runner, len(forwards)


def _count_forwards(module: torch.nn.Module) -> list:
    """A list that grows by one at every forward of ``module``."""
    calls = []
    module.register_forward_pre_hook(lambda *args: calls.append(1))
    return calls


def test_a_run_with_preflight_ends_bit_identical_to_one_without(
        fashion_teacher_ckpt, fashion_mnist_root, tmp_path):
    runs, forwards = {}, {}
    for flag in (True, False):
        runs[flag], forwards[flag] = _train(fashion_teacher_ckpt, fashion_mnist_root,
                                            tmp_path / str(flag), flag)
    assert forwards[True] == forwards[False] + 2  # the preflight's search and distill steps
    with_state, without_state = (runs[flag].model.state_dict() for flag in (True, False))
    assert with_state.keys() == without_state.keys()
    for key in with_state:  # student, BN statistics, policy
        assert torch.equal(with_state[key], without_state[key]), key
    optims = [runs[flag].optim_wrapper.state_dict() for flag in (True, False)]
    for part in ('student', 'augmenter'):
        states = [optim[part]['state'] for optim in optims]
        assert states[0].keys() == states[1].keys() and states[0]
        for index in states[0]:
            assert torch.equal(states[0][index]['momentum_buffer'],
                               states[1][index]['momentum_buffer']), (part, index)
    # search-pass checkpoints are rotated like epoch ones (max_keep_ckpts=1)
    assert [osp.basename(path) for path in glob.glob(str(tmp_path / 'True' / 'search_*'))] == [
        'search_epoch_1_pass_2.pth']
    assert [osp.basename(path) for path in glob.glob(str(tmp_path / 'True' / 'epoch_*'))] == [
        'epoch_2.pth']


def _ready_runner(data_root, work_dir) -> Runner:
    """A Fashion-MNIST TST runner (random teacher) with its optimizers built, as
    ``Runner.train`` has them when its loop starts."""
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', None, data_root, work_dir,
                             'preflight')
    cfg.model.allow_random_teacher = True
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    return runner


def _loader(runner: Runner, edit) -> DataLoader:
    """A loader of the first 4 training samples after ``edit(samples)``."""
    dataset = runner.train_dataloader.dataset
    samples = [dataset[index] for index in range(4)]
    edit(samples)
    return DataLoader(samples, batch_size=4, collate_fn=pseudo_collate)


def test_an_error_that_refuses_nothing_keeps_its_type_and_traceback(fashion_mnist_root,
                                                                     tmp_path):
    """Only the refusals meant as such become a one-line PreflightError; a label the head
    cannot take (a bug of the data, or of ours, or an out-of-memory error) was one too,
    without its traceback."""
    runner = _ready_runner(fashion_mnist_root, tmp_path)

    def label_42(samples):
        samples[0]['data_samples'].set_gt_label(42)

    with pytest.raises(IndexError, match='out of bounds') as info:
        run_preflight(runner, _loader(runner, label_42))
    assert not isinstance(info.value, ConfigError)


def test_preflight_leaves_no_trace_in_the_runner(fashion_mnist_root, tmp_path):
    """Runtime info, the warnings mmengine's logger has shown (it shows each once), and the
    counts of skipped steps are as before; a non-finite first batch makes both steps skip
    and warn."""
    runner = _ready_runner(fashion_mnist_root, tmp_path)

    def nan_image(samples):
        for sample in samples:
            sample['inputs'] = sample['inputs'].float()
        samples[0]['inputs'][:] = float('nan')

    loader = _loader(runner, nan_image)
    distiller = runner.model
    info = dict(runner.message_hub.runtime_info)
    filters = [log_filter for handler in runner.logger.handlers
               for log_filter in handler.filters if hasattr(log_filter, 'seen')]
    seen = [set(log_filter.seen) for log_filter in filters]
    forwards = _count_forwards(distiller.student.backbone)
    run_preflight(runner, loader)
    assert len(forwards) == 2  # it ran: a search and a distillation step
    assert dict(runner.message_hub.runtime_info) == info
    assert filters and [log_filter.seen for log_filter in filters] == seen
    assert [(part.skips.total, part.skips.in_a_row) for part in distiller.parts.values()] == [
        (0, 0), (0, 0)]


def test_first_batch_leaves_a_cached_mosaic_as_it_was(scenes_root):
    """RTMDet's recipe caches images in CachedMosaic / CachedMixUp: the preflight's and the
    sample grid's draws filled the caches (0 -> 2) before the first real batch."""
    cfg = Config.fromfile(osp.join(ROOT, DET_TST_CONFIG))
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = osp.join(scenes_root, 'coco') + '/'
    dataset.pipeline.insert(2, dict(type='CachedMosaic', img_scale=(96, 96), pad_val=114.0))
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dataset)
    loader = DataLoader(dataset, batch_size=2, collate_fn=pseudo_collate)
    batch = first_batch(loader)
    assert len(batch['inputs']) == 2
    mosaic = dataset.pipeline.transforms[2]
    assert type(mosaic).__name__ == 'CachedMosaic' and len(mosaic.results_cache) == 0


def _fashion_options(data_root):
    return [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')] + [
        'train_dataloader.dataset.indices=64', 'val_dataloader.dataset.indices=64',
        'train_cfg.max_epochs=1', 'train_cfg.search_epochs=[0]']


def _scene_options(scenes_root):
    coco = osp.join(scenes_root, 'coco') + '/'
    ann = coco + 'annotations/instances_val.json'
    return [f'{split}_dataloader.dataset.data_root={coco}'
            for split in ('train', 'val', 'test')] + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        f'model.teacher={DET_TEACHER}', 'train_dataloader.dataset.indices=4',
        'train_dataloader.batch_size=2', 'train_cfg.max_epochs=1', 'train_cfg.search_epochs=[0]']


@pytest.mark.slow
def test_detection_teacher_of_other_classes_is_refused_in_a_real_run(scenes_root, tmp_path):
    init_default_scope('mmdet')
    DefaultScope.overwrite_default_scope('mmdet').__enter__()
    teacher = MODELS.build(Config.fromfile(DET_TEACHER).model)
    classes = [f'class_{index}' for index in range(teacher.roi_head.bbox_head.num_classes)]
    ckpt = tmp_path / 'other_classes.pth'
    torch.save(dict(state_dict=teacher.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), ckpt)
    line = _fail_tool('tools/train.py', DET_TST_CONFIG, '--work-dir', str(tmp_path / 'work'),
                      '--cfg-options', *_scene_options(scenes_root), f'model.teacher_ckpt={ckpt}')
    assert line.startswith('error: the teacher checkpoint was trained on other classes than '
                           "the training dataset (10 vs 10 classes; first differences, teacher "
                           "vs dataset: 0: 'class_0' vs")
