# TST on ImageNet-1k: ResNet-34 (mmpretrain model zoo) -> ResNet-18, 100 epochs, search phases
# of 5 passes before epochs 10 and 25, KD with T = 1 (TST.md). Data, pipeline and evaluator are
# mmpretrain's (data/imagenet).
#   bash tools/dist_train.sh configs/tst/resnet34_resnet18_in1k.py 8
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py', '../_base_/tst_runtime.py']

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student='mmpretrain::resnet/resnet18_8xb32_in1k.py',
    teacher='mmpretrain::resnet/resnet34_8xb32_in1k.py',
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/'
    'resnet34_8xb32_in1k_20210831-f257d4e6.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='blend'),
    distill_losses=dict(kd=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.0)),
    search_loss_weights=dict(teacher=1.0, weakness=1.0))

optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)),
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))  # TST.md
param_scheduler = dict(
    _delete_=True,
    student=[dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)],
    augmenter=[])
train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=100,
                 search_epochs=[10, 25], search_passes=5, val_interval=1)
