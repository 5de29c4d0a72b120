# TST on COCO: RetinaNet R-101-FPN (teacher, mmdet model zoo, 38.9 box AP) -> R-50-FPN
# (student), 2x schedule (24 epochs), search phases of one pass before epochs 7 and 13
# (after 6 and 12 completed epochs), as in the paper. 8 GPUs x 2 images:
#   bash tools/dist_train.sh configs/tst/retinanet_r101_r50_coco.py 8
# Each distillation step sees [x'; x], so a GPU holds 4 images.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py', '../_base_/tst_coco_2x.py']

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/retinanet/'
    'retinanet_r101_fpn_2x_coco/'
    'retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth',
    **_base_.tst.model)
optim_wrapper = _base_.tst.optim_wrapper
optim_wrapper.student.optimizer.lr = 0.01  # RetinaNet's own 2x recipe
param_scheduler = _base_.tst.param_scheduler
train_cfg = _base_.tst.train_cfg
del _base_.tst  # put in place above: the final config holds each setting once
