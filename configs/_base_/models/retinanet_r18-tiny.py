# mmdet's RetinaNet at the scenes' size: ResNet-18 layout at 1/4 width, slim FPN and head,
# 10 classes, CPU-sized. The model of configs/demo/retinanet_r18-tiny_scenes.py.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

model = dict(
    backbone=dict(depth=18, base_channels=16, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32, start_level=1),
    bbox_head=dict(num_classes=10, in_channels=32, feat_channels=32, stacked_convs=2,
                   anchor_generator=dict(octave_base_scale=2)),
    test_cfg=dict(nms_pre=300, max_per_img=50))
