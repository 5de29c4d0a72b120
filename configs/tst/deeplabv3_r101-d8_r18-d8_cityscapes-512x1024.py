# TST (Shao et al., IJCAI 2023) on Cityscapes: DeepLabV3 R101-D8 (mmseg model zoo, 80.20 mIoU)
# distils DeepLabV3 R18-D8 (76.70 mIoU alone) on 512x1024 crops, 80k iterations, 4 GPUs x 2 images.
#   bash tools/dist_train.sh configs/tst/deeplabv3_r101-d8_r18-d8_cityscapes-512x1024.py 4
# KD and search as in configs/_base_/tst_cityscapes_80k.py.
_base_ = [
    'mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/tst_cityscapes_80k.py'
]

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3/'
    'deeplabv3_r101-d8_512x1024_80k_cityscapes/'
    'deeplabv3_r101-d8_512x1024_80k_cityscapes_20200606_113503-9e428899.pth',
    **_base_.tst.model)
optim_wrapper = _base_.tst.optim_wrapper
param_scheduler = _base_.tst.param_scheduler
train_cfg = _base_.tst.train_cfg
del _base_.tst  # put in place above: the final config holds each setting once
