# TST on COCO: Faster R-CNN R-101-FPN (teacher, mmdet model zoo, 39.8 box AP) -> R-50-FPN
# (student), 2x schedule (24 epochs), search phases of one pass before epochs 7 and 13
# (after 6 and 12 completed epochs), as in the paper. 8 GPUs x 2 images:
#   bash tools/dist_train.sh configs/tst/faster-rcnn_r101_r50_coco.py 8
# Each distillation step sees [x'; x], so a GPU holds 4 images. The student's stock config,
# mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py, is the first three parts below and
# mmdet's 2x schedule, which configs/_base_/tst_coco_2x.py turns into TST's.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/default_runtime.py', '../_base_/tst_coco_2x.py'
]

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/'
    'faster_rcnn_r101_fpn_2x_coco/'
    'faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose'),
    distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0)),
    weakness_loss=dict(type='tst_mm.InvertedDetectionLosses'))
