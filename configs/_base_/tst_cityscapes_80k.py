# TST as the paper runs it on Cityscapes, for a semantic segmenter on mmseg's 80k schedule
# (512x1024 crops, 4 GPUs x 2 images). KD: pixel-wise KL (tau 1) on the decode-head logits
# (weight 1.5) and the auxiliary-head logits (weight 0.5). Search phases at TST's "epochs" 0, 6
# and 12, one pass each, translated to iterations: one epoch of Cityscapes train (2975 images)
# at a total batch of 8 is ceil(2975 / 8) = 372 iterations, so search_at = [0, 6 * 372, 12 * 372]
# and a pass is search_iters = 372 search steps. Search steps are extra: the student still
# trains 80k iterations.
#
# A pair config inherits its student's mmseg config and this file, and puts the parts kept in
# `tst` in place, as configs/_base_/tst_coco_2x.py explains.
_base_ = './tst_plugin.py'

iters_per_epoch = 372  # ceil(2975 / (4 GPUs * 2 images))

tst = dict(
    model=dict(
        augmenter=dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose'),
        distill_losses=dict(
            decode=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.5),
            auxiliary=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=0.5)),
        weakness_loss=dict(type='tst_mm.StudentWeaknessLoss', ignore_index=255)),
    optim_wrapper=dict(
        _delete_=True,
        constructor='tst_mm.TSTOptimWrapperConstructor',
        student=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4)),
        augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))),
    param_scheduler=dict(
        _delete_=True,
        student=[
            dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=80000, by_epoch=False)
        ],
        augmenter=[]),
    train_cfg=dict(
        _delete_=True,
        type='tst_mm.TSTIterBasedTrainLoop',
        max_iters=80000,
        val_interval=8000,
        search_at=[0, 6 * iters_per_epoch, 12 * iters_per_epoch],
        search_iters=iters_per_epoch,
        search_passes=1))
custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook', interval=10)]
randomness = dict(seed=0)
