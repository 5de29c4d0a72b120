# The Cityscapes-layout scenes of `python tools/data/make_scenes.py --out data/scenes`, for a
# stock mmseg config that has its own data settings (Cityscapes). Listed as a second `_base_`
# next to it, configs/_base_/datasets/scenes_cityscapes.py would fail with mmengine's "Duplicate
# key is not allowed among bases"; this file has one key, `scenes`, whose entries replace the
# stock ones (`_delete_=True`) when the config takes them over (docs/user_guide.md, "Stock
# configs on the scenes"):
#   train_dataloader = {{_base_.scenes.train_dataloader}}
#   val_dataloader = {{_base_.scenes.val_dataloader}}
#   test_dataloader = {{_base_.scenes.test_dataloader}}
#   val_evaluator = {{_base_.scenes.val_evaluator}}
#   test_evaluator = {{_base_.scenes.test_evaluator}}
# 11 classes (background + 10 objects), 128 x 128 scenes (`scenes.crop_size`, for the
# data_preprocessor's `size`). The settings are those of scenes_cityscapes.py
# (tests/test_docs.py keeps them equal).
scenes = dict(
    crop_size=(128, 128),
    train_dataloader=dict(
        _delete_=True,
        batch_size=4,
        num_workers=0,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(
            type='tst_mm.SceneSegDataset',
            data_root='data/scenes/cityscapes/',
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
                dict(type='RandomFlip', prob=0.5),
                dict(type='PackSegInputs'),
            ])),
    val_dataloader=dict(
        _delete_=True,
        batch_size=1,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='tst_mm.SceneSegDataset',
            data_root='data/scenes/cityscapes/',
            data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
                dict(type='PackSegInputs'),
            ])),
    val_evaluator=dict(_delete_=True, type='IoUMetric', iou_metrics=['mIoU']))
# copies: taking one over pops its _delete_
scenes['test_dataloader'] = dict(scenes['val_dataloader'])
scenes['test_evaluator'] = dict(scenes['val_evaluator'])
