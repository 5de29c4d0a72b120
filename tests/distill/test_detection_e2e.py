"""End to end: TST for mmdet detectors through the tools, on scenes generated here.

Per detector: a teacher trained briefly here (cached per session), then the TST student
(search + distillation) through ``tools/train.py``, ``tools/test.py`` with ``CocoMetric``, and
the exported student loaded strictly by a stock mmdet model, predicting exactly what the
distilled student predicts, and tested in a process that never imports tst_mm. Also a user's
own mmdet config wrapping a stock FCOS into ``tst_mm.TSTDistiller`` through ``custom_imports``.
"""
import json
import os.path as osp
import textwrap

import pytest
import torch
from tst_testing import ROOT, check_exported_student, run_tool

DETECTORS = ('faster-rcnn', 'retinanet', 'mask-rcnn')
#: Keep the 10 best detections per image whatever their score: briefly trained detectors score
#: below mmdet's 0.05, and CocoMetric reports nothing for a set without detections.
TEST_CFG = {
    'faster-rcnn': ['model.student.test_cfg.rcnn.score_thr=0.0',
                    'model.student.test_cfg.rcnn.max_per_img=10'],
    'mask-rcnn': ['model.student.test_cfg.rcnn.score_thr=0.0',
                  'model.student.test_cfg.rcnn.max_per_img=10'],
    'retinanet': ['model.student.test_cfg.score_thr=0.0', 'model.student.test_cfg.max_per_img=10'],
}


def stock_config(name: str) -> str:
    return osp.join(ROOT, f'configs/demo/{name}_r18-tiny_scenes.py')


def tst_config(name: str) -> str:
    return osp.join(ROOT, f'configs/demo/tst_{name}_scenes.py')


def data_options(scenes_root: str, num_train: int = 8) -> list:
    coco = osp.join(scenes_root, 'coco') + '/'
    ann = coco + 'annotations/instances_val.json'
    return [f'{split}_dataloader.dataset.data_root={coco}' for split in ('train', 'val', 'test')
            ] + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
                 f'train_dataloader.dataset.indices={num_train}']


@pytest.fixture(scope='session')
def detection_teacher(scenes_root, tmp_path_factory):
    """``teacher(name)``: checkpoint of the stock demo detector trained briefly (cached)."""
    cache = {}

    def teacher(name: str) -> str:
        if name not in cache:
            work_dir = str(tmp_path_factory.mktemp(f'{name}-teacher'))
            run_tool('tools/train.py', stock_config(name), '--work-dir', work_dir,
                     '--cfg-options', *data_options(scenes_root, num_train=16),
                     'train_cfg.max_epochs=1', 'train_cfg.val_begin=2')
            cache[name] = osp.join(work_dir, 'epoch_1.pth')
        return cache[name]

    return teacher


def plain_test_script(tmp_path, config: str, checkpoint: str, ann_file: str) -> str:
    """A script that tests the exported student with stock mmengine + mmdet only."""
    script = tmp_path / 'plain_test.py'
    script.write_text(textwrap.dedent(f'''\
        import json
        import sys
        from mmengine.config import Config
        from mmengine.runner import Runner
        with open({ann_file!r}) as f:
            categories = sorted(json.load(f)['categories'], key=lambda c: c['id'])
        classes = tuple(c['name'] for c in categories)
        cfg = Config.fromfile({config!r})
        for split in ('train', 'val', 'test'):
            dataset = cfg[split + '_dataloader'].dataset
            dataset.type = 'CocoDataset'  # the plain mmdet class, not tst_mm's
            dataset.metainfo = dict(classes=classes)
        cfg.work_dir = {str(tmp_path / 'plain')!r}
        cfg.load_from = {checkpoint!r}
        metrics = Runner.from_cfg(cfg).test()
        assert not any(name.startswith('tst_mm') for name in sys.modules), 'tst_mm imported'
        print('PLAIN_MAP', metrics['coco/bbox_mAP'])
        '''))
    return str(script)


@pytest.mark.slow
@pytest.mark.parametrize('name', DETECTORS)
def test_tst_detection_trains_tests_exports(name, detection_teacher, scenes_root, tmp_path):
    teacher = detection_teacher(name)
    work_dir = str(tmp_path / 'tst')
    options = data_options(scenes_root) + [
        f'model.teacher_ckpt={teacher}', 'train_cfg.max_epochs=1', 'train_cfg.search_epochs=[0]',
        'train_cfg.val_begin=2'] + TEST_CFG[name]  # no validation while training
    run_tool('tools/train.py', tst_config(name), '--work-dir', work_dir, '--cfg-options',
             *options)
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    saved = torch.load(checkpoint, map_location='cpu', weights_only=False)
    assert not any(key.startswith('teacher.') for key in saved['state_dict'])
    assert osp.exists(osp.join(work_dir, 'search_epoch_0_pass_1.pth'))
    with open(osp.join(work_dir, 'tst_policy.jsonl')) as f:
        assert len(f.read().splitlines()) > 1  # initial policy + search steps

    proc = run_tool('tools/test.py', tst_config(name), checkpoint, '--cfg-options', *options)
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
    if name == 'mask-rcnn':
        assert 'coco/segm_mAP' in proc.stdout + proc.stderr

    exported = str(tmp_path / 'student.pth')
    run_tool('tools/export_student.py', checkpoint, exported, '--config', tst_config(name),
             '--cfg-options', *options)
    # stock mmdet loads it strictly and predicts what the distilled student predicts
    check_exported_student(work_dir, checkpoint, str(tmp_path / 'student.py'), exported,
                           tmp_path)
    ann_file = osp.join(scenes_root, 'coco/annotations/instances_val.json')
    proc = run_tool(plain_test_script(tmp_path, str(tmp_path / 'student.py'), exported,
                                      ann_file), cwd=str(tmp_path))
    assert 'PLAIN_MAP' in proc.stdout


@pytest.mark.slow
def test_user_config_wraps_a_stock_fcos(scenes_root, tmp_path):
    """A user's own mmdet configs: a stock FCOS made CPU-sized, wrapped by custom_imports."""
    coco = osp.join(scenes_root, 'coco') + '/'
    with open(coco + 'annotations/instances_train.json') as f:
        classes = tuple(c['name'] for c in sorted(json.load(f)['categories'],
                                                  key=lambda c: c['id']))
    (tmp_path / 'my_fcos.py').write_text(textwrap.dedent(f'''\
        _base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'
        data_root = {coco!r}
        metainfo = dict(classes={classes!r})
        model = dict(
            backbone=dict(depth=18, base_channels=16, init_cfg=None),
            neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
            bbox_head=dict(num_classes={len(classes)}, in_channels=32, feat_channels=32,
                           stacked_convs=1))
        pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(128, 128), keep_ratio=True),
            dict(type='PackDetInputs')]
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(data_root=data_root, metainfo=metainfo, indices=4,
                         ann_file='annotations/instances_train.json',
                         data_prefix=dict(img='train/'), pipeline=pipeline))
        train_cfg = dict(max_epochs=1, val_interval=10)
        val_cfg = None
        val_dataloader = None
        val_evaluator = None
        test_cfg = None
        test_dataloader = None
        test_evaluator = None
        param_scheduler = []
        '''))
    (tmp_path / 'my_tst_fcos.py').write_text(textwrap.dedent('''\
        _base_ = './my_fcos.py'
        custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
        model = dict(
            _delete_=True,
            type='tst_mm.TSTDistiller',
            student={{_base_.model}},
            teacher='my_fcos.py',
            allow_random_teacher=True,  # no trained teacher here: the wiring is tested
            augmenter=dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose'),
            distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0)))
        optim_wrapper = dict(
            _delete_=True,
            constructor='tst_mm.TSTOptimWrapperConstructor',
            student=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9),
                         clip_grad=dict(max_norm=35, norm_type=2)),
            augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
        param_scheduler = dict(_delete_=True, student=[], augmenter=[])
        train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=1,
                         search_epochs=[0], search_passes=1)
        '''))
    script = tmp_path / 'train_user.py'
    script.write_text(textwrap.dedent(f'''\
        import sys
        from mmengine.config import Config
        from mmengine.runner import Runner
        cfg = Config.fromfile({str(tmp_path / 'my_tst_fcos.py')!r})
        cfg.work_dir = {str(tmp_path / 'work')!r}
        runner = Runner.from_cfg(cfg)
        runner.train()
        model = runner.model
        assert 'tst_mm' in sys.modules  # brought in by custom_imports only
        assert type(model).__name__ == 'TSTDistiller'
        assert type(model.student).__name__ == 'FCOS'
        print('USER_ITERS', runner.iter)
        '''))
    proc = run_tool(str(script), cwd=str(tmp_path))
    assert 'USER_ITERS 2' in proc.stdout
