# The COCO-format scenes of `python tools/data/make_scenes.py --out data/scenes`, for a stock
# mmdet config that has its own data settings (COCO). Listed as a second `_base_` next to it,
# configs/_base_/datasets/scenes_coco.py would fail with mmengine's "Duplicate key is not
# allowed among bases"; this file has one key, `scenes`, whose entries replace the stock ones
# (`_delete_=True`) when the config takes them over (docs/user_guide.md, "Stock configs on the
# scenes"):
#   train_dataloader = {{_base_.scenes.train_dataloader}}
#   val_dataloader = {{_base_.scenes.val_dataloader}}
#   test_dataloader = {{_base_.scenes.test_dataloader}}
#   val_evaluator = {{_base_.scenes.val_evaluator}}
#   test_evaluator = {{_base_.scenes.test_evaluator}}
# The settings are those of scenes_coco.py (tests/test_docs.py keeps them equal).
scenes = dict(
    train_dataloader=dict(
        _delete_=True,
        batch_size=4,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='AspectRatioBatchSampler'),
        dataset=dict(
            type='tst_mm.SceneCocoDataset',
            data_root='data/scenes/coco/',
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='train/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=4),
            pipeline=[
                dict(type='LoadImageFromFile', backend_args=None),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=(128, 128), keep_ratio=True),
                dict(type='RandomFlip', prob=0.5),
                dict(type='PackDetInputs'),
            ],
            backend_args=None)),
    val_dataloader=dict(
        _delete_=True,
        batch_size=4,
        num_workers=0,
        drop_last=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='tst_mm.SceneCocoDataset',
            data_root='data/scenes/coco/',
            ann_file='annotations/instances_val.json',
            data_prefix=dict(img='val/'),
            test_mode=True,
            pipeline=[
                dict(type='LoadImageFromFile', backend_args=None),
                dict(type='Resize', scale=(128, 128), keep_ratio=True),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                                      'img_shape', 'scale_factor')),
            ],
            backend_args=None)),
    val_evaluator=dict(
        _delete_=True,
        type='CocoMetric',
        ann_file='data/scenes/coco/annotations/instances_val.json',
        metric='bbox',
        format_only=False,
        backend_args=None))
# copies: taking one over pops its _delete_
scenes['test_dataloader'] = dict(scenes['val_dataloader'])
scenes['test_evaluator'] = dict(scenes['val_evaluator'])
