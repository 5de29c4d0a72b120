# A stock mmdet Mask R-CNN (ResNet-18 layout at 1/4 width, slim FPN and heads) on the generated
# COCO-format scenes (exact RLE masks), CPU-sized.
_base_ = [
    '../_base_/models/mask-rcnn_r18-tiny.py', '../_base_/datasets/scenes_coco_instance.py',
    '../_base_/scenes_det_12e.py'
]
