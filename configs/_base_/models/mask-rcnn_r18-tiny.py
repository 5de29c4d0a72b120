# The tiny Faster R-CNN (faster-rcnn_r18-tiny.py) with a slim mask head: mmdet's Mask R-CNN at
# the scenes' size. The model of configs/demo/mask-rcnn_r18-tiny_scenes.py.
_base_ = './faster-rcnn_r18-tiny.py'

model = dict(
    type='MaskRCNN',
    data_preprocessor=dict(pad_mask=True),
    roi_head=dict(
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=32,
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=2,
            in_channels=32,
            conv_out_channels=32,
            num_classes=10,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(rcnn=dict(mask_size=28)),
    test_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))
