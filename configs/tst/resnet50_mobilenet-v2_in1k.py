# TST on ImageNet-1k: ResNet-50 (mmpretrain model zoo) -> MobileNet-V2, 100 epochs, search
# phases of 5 passes before epochs 10 and 25, KD with T = 1 (TST.md's schedule; the paper's
# student is MobileNet-V1, which mmpretrain does not ship). Student optimizer as in its
# mmpretrain config (SGD, lr 0.045); cosine decay over the 100 epochs replaces that config's
# 300-epoch step decay.
_base_ = ['mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', '../_base_/tst_runtime.py']

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    teacher='mmpretrain::resnet/resnet50_8xb32_in1k.py',
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/'
    'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='blend'),
    distill_losses=dict(kd=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.0)),
    search_loss_weights=dict(teacher=1.0, weakness=1.0))

optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student=dict(optimizer=dict(type='SGD', lr=0.045, momentum=0.9, weight_decay=4e-5)),
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))  # TST.md
param_scheduler = dict(
    _delete_=True,
    student=[dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=100)],
    augmenter=[])
train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=100,
                 search_epochs=[10, 25], search_passes=5, val_interval=1)
