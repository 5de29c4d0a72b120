# TST on COCO: RTMDet-L (teacher, mmdet model zoo, 51.3 box AP) -> RTMDet-S (student, 44.5 box
# AP trained alone in the zoo), with RTMDet's own recipe: 300 epochs of AdamW (lr 0.004,
# linear warm-up, cosine from epoch 150), Mosaic / MixUp switched off for the last 20 epochs,
# EMA of the weights. Search phases of one pass before epochs 76 and 151 (after 75 and 150
# completed epochs): the paper's COCO phases (after 1/4 and 1/2 of a 24-epoch schedule) at the
# same fractions of this one. 8 GPUs x 32 images, as the stock recipe:
#   bash tools/dist_train.sh configs/tst/rtmdet_l_s_coco.py 8
# Each distillation step sees [x'; x] (64 images per GPU) and a search step backpropagates
# through teacher and student: by the model zoo's memory figures (S 15.9 GB, L 43.2 GB at 32
# images) about 59 GB per GPU (docs/full_scale.md); on smaller GPUs halve
# train_dataloader.batch_size and base_lr. RTMDet's QualityFocalLoss / GIoULoss are inverted;
# 'cls' is the per-location binary KL of the classification maps (same strides, one point per
# location in both models).
# (RTMDet's own config defines custom_hooks, so this one inherits tst_plugin.py, not
# tst_runtime.py, and lists TST's hooks after RTMDet's below.)
_base_ = ['mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py', '../_base_/tst_plugin.py']

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student={{_base_.model}},
    teacher='mmdet::rtmdet/rtmdet_l_8xb32-300e_coco.py',
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v3.0/rtmdet/'
    'rtmdet_l_8xb32-300e_coco/rtmdet_l_8xb32-300e_coco_20220719_112030-5a0be7c4.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose'),
    distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0)),
    weakness_loss=dict(type='tst_mm.InvertedDetectionLosses'))

# The stock optimizer and schedule, for the student; the augmenter as in every TST config.
optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student=dict(optimizer=dict(type='AdamW', lr={{_base_.base_lr}}, weight_decay=0.05),
                 paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0,
                                    bypass_duplicate=True)),
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
param_scheduler = dict(_delete_=True, student={{_base_.param_scheduler}}, augmenter=[])

train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop',
                 max_epochs={{_base_.max_epochs}}, search_epochs=[75, 150], search_passes=1,
                 val_interval={{_base_.interval}}, dynamic_intervals=[(280, 1)])

# RTMDet's hooks (EMA of the weights; the stage-2 pipeline from epoch 280) and TST's. The EMA
# averages the student only: the teacher is not part of it, and the augmenter is kept out of
# the average (checkpoints carry the learned policy). Validation, test and checkpoints see the
# averaged student.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True,
         priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=280,
         switch_pipeline={{_base_.train_pipeline_stage2}}),
    dict(type='tst_mm.TSTPolicyLoggerHook'),
    dict(type='tst_mm.TSTSampleGridHook'),
]
