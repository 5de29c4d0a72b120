# TST on ImageNet-1k: ResNet-34 (mmpretrain model zoo) -> ResNet-18, 100 epochs, search phases
# of 5 passes before epochs 10 and 25, KD with T = 1 (TST.md). Data, pipeline and evaluator are
# mmpretrain's (data/imagenet), the parts the student's config lists.
#   bash tools/dist_train.sh configs/tst/resnet34_resnet18_in1k.py 8
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py', 'mmpretrain::_base_/default_runtime.py',
    '../_base_/tst_in1k_100e.py'
]

model = dict(
    student='mmpretrain::resnet/resnet18_8xb32_in1k.py',
    teacher='mmpretrain::resnet/resnet34_8xb32_in1k.py',
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/'
    'resnet34_8xb32_in1k_20210831-f257d4e6.pth')
optim_wrapper = dict(
    student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)))
param_scheduler = dict(
    student=[dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)])
