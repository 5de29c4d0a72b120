# TST on the Cityscapes-layout scenes, CPU-sized: the stock demo DeepLabV3 (ResNetV1c-18 at
# 1/4 width; trained with tools/train.py configs/demo/deeplabv3_r18-tiny_scenes.py) distils the
# same DeepLabV3 at 1/8 width. The mirror of
# configs/tst/deeplabv3_r101-d8_r18-d8_cityscapes-512x1024.py; everything but the models is the
# PSPNet demo's (configs/demo/tst_pspnet_scenes.py).
#   python tools/train.py configs/demo/tst_deeplabv3_scenes.py \
#       --cfg-options model.teacher_ckpt=work_dirs/deeplabv3_r18-tiny_scenes/iter_400.pth
_base_ = ['./tst_pspnet_scenes.py']

student = dict(
    decode_head=dict(
        _delete_=True, type='ASPPHead', in_channels=64, in_index=3, channels=16,
        dilations=(1, 3, 6, 9), dropout_ratio=0.1, num_classes=11,
        norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
model = dict(
    student=student,
    teacher='{{ fileDirname }}/deeplabv3_r18-tiny_scenes.py',  # beside this file
    teacher_ckpt='work_dirs/deeplabv3_r18-tiny_scenes/iter_400.pth')
