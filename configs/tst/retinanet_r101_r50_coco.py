# TST on COCO: RetinaNet R-101-FPN (teacher, mmdet model zoo, 38.9 box AP) -> R-50-FPN
# (student), 2x schedule (24 epochs), search phases of one pass before epochs 7 and 13
# (after 6 and 12 completed epochs), as in the paper. 8 GPUs x 2 images:
#   bash tools/dist_train.sh configs/tst/retinanet_r101_r50_coco.py 8
# Each distillation step sees [x'; x], so a GPU holds 4 images. The student's stock config,
# mmdet::retinanet/retinanet_r50_fpn_2x_coco.py, is the first three parts below and a 2x
# schedule (mmdet's schedule_1x set to 24 epochs), which configs/_base_/tst_coco_2x.py replaces
# with TST's; RetinaNet's own lr (0.01) stays.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', 'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/default_runtime.py', '../_base_/tst_coco_2x.py'
]

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/retinanet/'
    'retinanet_r101_fpn_2x_coco/'
    'retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose'),
    distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0)),
    weakness_loss=dict(type='tst_mm.InvertedDetectionLosses'))
optim_wrapper = dict(student=dict(optimizer=dict(lr=0.01)))
