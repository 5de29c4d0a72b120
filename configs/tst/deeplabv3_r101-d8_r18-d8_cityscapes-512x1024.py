# TST (Shao et al., IJCAI 2023) on Cityscapes: DeepLabV3 R101-D8 (mmseg model zoo, 80.20 mIoU)
# distils DeepLabV3 R18-D8 (76.70 mIoU alone) on 512x1024 crops, 80k iterations, 4 GPUs x 2 images.
#   bash tools/dist_train.sh configs/tst/deeplabv3_r101-d8_r18-d8_cityscapes-512x1024.py 4
# KD and search as in the PSPNet pair: mmseg's DeepLabV3 R18-D8 config
# (mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py) is its PSPNet R18-D8 config
# with an ASPP decode head, so this config is the PSPNet pair with that head.
_base_ = ['./pspnet_r101-d8_r18-d8_cityscapes-512x1024.py']

model = dict(
    student=dict(
        decode_head=dict(
            _delete_=True, type='ASPPHead', in_channels=512, in_index=3, channels=128,
            dilations=(1, 12, 24, 36), dropout_ratio=0.1, num_classes=19,
            norm_cfg=dict(type='SyncBN', requires_grad=True), align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))),
    teacher='mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3/'
    'deeplabv3_r101-d8_512x1024_80k_cityscapes/'
    'deeplabv3_r101-d8_512x1024_80k_cityscapes_20200606_113503-9e428899.pth')
