"""tools/train.py and tools/test.py on the stock demo configs of all three tasks, real data."""
import glob
import os.path as osp

import pytest
import torch
from tst_testing import run_tool
from tst_testing import run_tool_expecting_failure as _fail_tool


def test_unknown_scope_is_a_one_line_error(tmp_path):
    config = tmp_path / 'bad_scope.py'
    config.write_text("default_scope = 'mmfoo'\nmodel = dict(type='X')\n")
    line = _fail_tool('tools/train.py', str(config))
    assert "config key 'default_scope' is 'mmfoo'" in line and 'mmdet' in line


def test_missing_config_is_a_one_line_error(tmp_path):
    line = _fail_tool('tools/train.py', str(tmp_path / 'nope.py'))
    assert line.startswith('error: config file not found')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU refusal of --amp')
def test_amp_without_cuda_is_a_one_line_error():
    line = _fail_tool('tools/train.py', 'configs/demo/resnet18-tiny_fashion-mnist.py', '--amp')
    assert line.startswith('error: --amp needs a CUDA device')



@pytest.mark.parametrize('option, message', [
    ('model.augmenter.signs=negative', "signs must be one of ('random', 'positive')"),
    ('model.augmenter.ops=[brightness,blur]', "Unknown augmentation op(s) ['blur']"),
    ('model.augment_ratio=2.0', 'augment_ratio must be in [0, 1]'),
    ('train_cfg.search_epochs=[9]', 'search_epochs [9] lie outside the training length'),
    ('train_cfg.search_passes=0', 'search_passes must be >= 1'),
    ('model.search_objective.type=tst_mm.NoSuchObjective',
     "model.search_objective: tst_mm.NoSuchObjective is not in the"),
    ('model.search_objective.type=tst_mm.TeacherGatedObjective '
     'model.search_objective.hinge_weight=-1', 'hinge_weight must be >= 0'),
    ('model.search_objective.type=tst_mm.DisagreementObjective '
     'model.search_loss_weights.teacher=2.0', 'model.search_objective is set, so'),
])
def test_bad_tst_settings_are_one_line_errors(option, message, fashion_mnist_root):
    line = _fail_tool('tools/train.py', 'configs/demo/tst_fashion-mnist.py', '--cfg-options',
                      *option.split(), *_data_roots(fashion_mnist_root))
    assert line.startswith('error: ') and message in line


def _data_roots(data_root):
    return [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')]


def _cls_options(data_root):
    return _data_roots(data_root) + [
        'train_dataloader.dataset.indices=512', 'val_dataloader.dataset.indices=256',
        'test_dataloader.dataset.indices=256', 'train_cfg.max_epochs=1']


def _coco_options(scenes):
    root = osp.join(scenes, 'coco') + '/'
    ann = root + 'annotations/instances_val.json'
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')
            ] + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
                 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1']


def _seg_options(scenes):
    root = osp.join(scenes, 'cityscapes') + '/'
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')
            ] + ['train_cfg.max_iters=4', 'train_cfg.val_interval=4',
                 'default_hooks.checkpoint.interval=4']


def _train_then_test(config, options, work_dir, metric):
    run_tool('tools/train.py', config, '--work-dir', work_dir, '--cfg-options', *options)
    checkpoints = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    assert checkpoints, 'training wrote no checkpoint'
    proc = run_tool('tools/test.py', config, checkpoints[-1], '--work-dir', work_dir,
                    '--cfg-options', *options)
    assert metric in proc.stdout + proc.stderr


@pytest.mark.slow
def test_classification_demo_trains_and_tests(fashion_mnist_root, tmp_path):
    _train_then_test('configs/demo/resnet18-tiny_fashion-mnist.py',
                     _cls_options(fashion_mnist_root), str(tmp_path), 'accuracy/top1')


@pytest.mark.slow
@pytest.mark.parametrize('config, score_thr', [
    ('configs/demo/faster-rcnn_r18-tiny_scenes.py', 'model.test_cfg.rcnn.score_thr=0.0'),
    ('configs/demo/retinanet_r18-tiny_scenes.py', 'model.test_cfg.score_thr=0.0')])
def test_detection_demos_train_and_test(config, score_thr, scenes_root, tmp_path):
    # one short epoch: keep every detection so that CocoMetric has something to score
    _train_then_test(config, _coco_options(scenes_root) + [score_thr], str(tmp_path),
                     'coco/bbox_mAP')


@pytest.mark.slow
def test_segmentation_demo_trains_and_tests(scenes_root, tmp_path):
    _train_then_test('configs/demo/pspnet_r18-tiny_scenes.py', _seg_options(scenes_root),
                     str(tmp_path), 'mIoU')


@pytest.mark.slow
def test_resume_through_train_tool(fashion_mnist_root, tmp_path):
    config = 'configs/demo/resnet18-tiny_fashion-mnist.py'
    options = _cls_options(fashion_mnist_root)
    run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *options)
    options = [opt for opt in options if not opt.startswith('train_cfg.max_epochs')]
    proc = run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--resume',
                    '--cfg-options', *options, 'train_cfg.max_epochs=2')
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    assert osp.exists(osp.join(tmp_path, 'epoch_2.pth'))
