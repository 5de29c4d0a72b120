# TST (Shao et al., IJCAI 2023) on Cityscapes: PSPNet R101-D8 (mmseg model zoo, 79.76 mIoU)
# distils PSPNet R18-D8 (74.87 mIoU alone) on 512x1024 crops, 80k iterations, 4 GPUs x 2 images.
#   bash tools/dist_train.sh configs/tst/pspnet_r101-d8_r18-d8_cityscapes-512x1024.py 4
# KD and search as in configs/_base_/tst_cityscapes_80k.py.
_base_ = [
    'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/tst_cityscapes_80k.py'
]

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/'
    'pspnet_r101-d8_512x1024_80k_cityscapes/'
    'pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth',
    **_base_.tst.model)
optim_wrapper = _base_.tst.optim_wrapper
param_scheduler = _base_.tst.param_scheduler
train_cfg = _base_.tst.train_cfg
del _base_.tst  # put in place above: the final config holds each setting once
