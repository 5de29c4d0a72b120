# A stock mmdet Faster R-CNN (ResNet-18 layout at 1/4 width, slim FPN and heads) on the
# generated COCO-format scenes, CPU-sized.
_base_ = [
    '../_base_/models/faster-rcnn_r18-tiny.py', '../_base_/datasets/scenes_coco.py',
    '../_base_/scenes_det_12e.py'
]
