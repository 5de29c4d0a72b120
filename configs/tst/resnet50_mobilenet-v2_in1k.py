# TST on ImageNet-1k: ResNet-50 (mmpretrain model zoo) -> MobileNet-V2, 100 epochs, search
# phases of 5 passes before epochs 10 and 25, KD with T = 1 (TST.md's schedule; the paper's
# student is MobileNet-V1, which mmpretrain does not ship). Student optimizer as in its
# mmpretrain config (SGD, lr 0.045); cosine decay over the 100 epochs replaces that config's
# 300-epoch step decay.
_base_ = ['mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', '../_base_/tst_in1k_100e.py']

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    teacher='mmpretrain::resnet/resnet50_8xb32_in1k.py',
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/'
    'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
    **_base_.tst.model)
optim_wrapper = _base_.tst.optim_wrapper
optim_wrapper.student = dict(
    optimizer=dict(type='SGD', lr=0.045, momentum=0.9, weight_decay=4e-5))
param_scheduler = _base_.tst.param_scheduler
param_scheduler.student = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=100)]
train_cfg = _base_.tst.train_cfg
del _base_.tst  # put in place above: the final config holds each setting once
