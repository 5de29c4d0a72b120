# The COCO-format scenes (scenes_coco.py) with their instance masks (exact RLE), for Mask R-CNN:
# masks loaded for training, and mask AP besides box AP.
_base_ = './scenes_coco.py'

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale={{_base_.image_size}}, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]))
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
