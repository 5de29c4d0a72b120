# TST on COCO: Faster R-CNN R-101-FPN (teacher, mmdet model zoo, 39.8 box AP) -> R-50-FPN
# (student), 2x schedule (24 epochs), search phases of one pass before epochs 7 and 13
# (after 6 and 12 completed epochs), as in the paper. 8 GPUs x 2 images:
#   bash tools/dist_train.sh configs/tst/faster-rcnn_r101_r50_coco.py 8
# Each distillation step sees [x'; x], so a GPU holds 4 images.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py', '../_base_/tst_runtime.py']

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/'
    'faster_rcnn_r101_fpn_2x_coco/'
    'faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth',
    # Detection needs 'compose': one affine per image, which boxes follow exactly.
    augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='compose'),
    # 'cls': KL (tau 1) on RoI-head class logits, the student's RoIs through the teacher's head.
    # Add e.g. neck_mse=dict(type='tst_mm.FeatureMSELoss', normalize=True) for FPN features.
    distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.0)),
    # The student's own losses, inverted during search steps only.
    weakness_loss=dict(type='tst_mm.InvertedDetectionLosses', targets='positives',
                       regression='reciprocal'),
    search_loss_weights=dict(teacher=1.0, weakness=1.0),
    augment_ratio=1.0)

optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student=dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)),
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
param_scheduler = dict(
    _delete_=True,
    student=[
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
        dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22],
             gamma=0.1)
    ],
    augmenter=[])

train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=24,
                 search_epochs=[6, 12], search_passes=1, val_interval=1)
