# TST (Shao et al., IJCAI 2023) on Cityscapes: PSPNet R101-D8 (mmseg model zoo, 79.76 mIoU)
# distils PSPNet R18-D8 (74.87 mIoU alone) on 512x1024 crops, 80k iterations, 4 GPUs x 2 images.
#   bash tools/dist_train.sh configs/tst/pspnet_r101-d8_r18-d8_cityscapes-512x1024.py 4
# TST as the paper runs it on Cityscapes, on mmseg's 80k schedule. KD: pixel-wise KL (tau 1) on
# the decode-head logits (weight 1.5) and the auxiliary-head logits (weight 0.5). Search phases
# at TST's "epochs" 0, 6 and 12, one pass each, translated to iterations: one epoch of
# Cityscapes train (2975 images) at a total batch of 8 is ceil(2975 / 8) = 372 iterations, so
# search_at = [0, 6 * 372, 12 * 372] and a pass is search_iters = 372 search steps. Search steps
# are extra: the student still trains 80k iterations. The DeepLabV3 pair
# (deeplabv3_r101-d8_r18-d8_cityscapes-512x1024.py) is this config with its student's head.
_base_ = [
    'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py', '../_base_/tst_plugin.py'
]

iters_per_epoch = 372  # ceil(2975 / (4 GPUs * 2 images))

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/'
    'pspnet_r101-d8_512x1024_80k_cityscapes/'
    'pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose'),
    distill_losses=dict(
        decode=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.5),
        auxiliary=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=0.5)),
    weakness_loss=dict(type='tst_mm.StudentWeaknessLoss', ignore_index=255))
optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4)),
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
param_scheduler = dict(
    _delete_=True,
    student=[
        dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=80000, by_epoch=False)
    ],
    augmenter=[])
train_cfg = dict(
    _delete_=True,
    type='tst_mm.TSTIterBasedTrainLoop',
    max_iters=80000,
    val_interval=8000,
    search_at=[0, 6 * iters_per_epoch, 12 * iters_per_epoch],
    search_iters=iters_per_epoch,
    search_passes=1)
custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook', interval=10)]
randomness = dict(seed=0)
