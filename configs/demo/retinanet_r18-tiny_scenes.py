# A stock mmdet RetinaNet (ResNet-18 layout at 1/4 width, slim FPN and head) on the generated
# COCO-format scenes, CPU-sized: the detection demos' schedule at lr 0.01, gradients clipped.
_base_ = [
    '../_base_/models/retinanet_r18-tiny.py', '../_base_/datasets/scenes_coco.py',
    '../_base_/scenes_det_12e.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2))
