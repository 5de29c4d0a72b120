# A stock mmseg PSPNet (ResNetV1c-18 at 1/4 width, output stride 8) on the generated
# Cityscapes-layout scenes, CPU-sized.
_base_ = [
    'mmseg::_base_/models/pspnet_r50-d8.py', '../_base_/datasets/scenes_cityscapes.py',
    'mmseg::_base_/default_runtime.py', '../_base_/scenes_seg_400i.py'
]
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=(128, 128))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=128, channels=32, num_classes=11, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes=11, norm_cfg=norm_cfg))
