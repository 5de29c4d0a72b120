"""tools/train.py and tools/test.py on the stock demo configs of all three tasks, real data.

Their refusals (one line on stderr) are tested by tests/tools/test_refusals.py, from the list in
docs/user_guide.md."""
import glob
import os.path as osp

import pytest
from tst_testing import run_tool


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
