# TST on ImageNet-1k: ResNet-34 (mmpretrain model zoo) -> ResNet-18, 100 epochs, search phases
# of 5 passes before epochs 10 and 25, KD with T = 1 (TST.md). Data, pipeline and evaluator are
# mmpretrain's (data/imagenet).
#   bash tools/dist_train.sh configs/tst/resnet34_resnet18_in1k.py 8
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py', '../_base_/tst_in1k_100e.py']

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student='mmpretrain::resnet/resnet18_8xb32_in1k.py',
    teacher='mmpretrain::resnet/resnet34_8xb32_in1k.py',
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/'
    'resnet34_8xb32_in1k_20210831-f257d4e6.pth',
    **_base_.tst.model)
optim_wrapper = _base_.tst.optim_wrapper
optim_wrapper.student = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = _base_.tst.param_scheduler
param_scheduler.student = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
]
train_cfg = _base_.tst.train_cfg
del _base_.tst  # put in place above: the final config holds each setting once
