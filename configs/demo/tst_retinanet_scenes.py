# TST for detection, CPU-sized: the stock RetinaNet demo (1/4-width ResNet-18 layout) is both
# teacher (trained for its 12 epochs first) and student (trained afresh with TST), on the
# generated scenes. Search phases of one pass before epochs 4 and 7.
#   python tools/train.py configs/demo/retinanet_r18-tiny_scenes.py \
#       --work-dir work_dirs/demo/retinanet_teacher
#   python tools/train.py configs/demo/tst_retinanet_scenes.py
_base_ = [
    '../_base_/models/retinanet_r18-tiny.py', '../_base_/datasets/scenes_coco.py',
    '../_base_/tst_scenes_det_12e.py'
]

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='{{ fileDirname }}/retinanet_r18-tiny_scenes.py',  # beside this file
    teacher_ckpt='work_dirs/demo/retinanet_teacher/epoch_12.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='compose'),
    distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.0)),
    weakness_loss=dict(type='tst_mm.InvertedDetectionLosses', targets='positives',
                       regression='reciprocal'))
optim_wrapper = dict(
    student=dict(optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2)))
