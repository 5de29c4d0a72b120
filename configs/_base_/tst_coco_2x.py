# TST as the paper runs it on COCO, for a two-stage or one-stage detector on mmdet's 2x schedule
# (24 epochs, lr steps at 16 and 22, 8 GPUs x 2 images): search phases of one pass before
# epochs 7 and 13 (after 6 and 12 completed epochs).
#
# mmdet's 2x schedule with TST's two optimizers and loop in place of its own, and TST's runtime.
# A pair config lists its student's model, data and runtime parts (its stock config less the
# schedule) and this file, and puts the student's model into the distiller:
#   model = dict(_delete_=True, type='tst_mm.TSTDistiller', student={{_base_.model}},
#                teacher=..., teacher_ckpt=..., augmenter=..., distill_losses=...,
#                weakness_loss=...)
# The model settings of TST on COCO, which each detection pair states:
#   augmenter=dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose'): detection needs
#     'compose', one affine per image, which boxes and masks follow exactly;
#   distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0)): KL (tau 1) on class logits:
#     for two-stage detectors the RoI head's, the student's RoIs through the teacher's head; for
#     one-stage detectors each location's sigmoid class scores (binary KL). Add e.g.
#     neck_mse=dict(type='tst_mm.FeatureMSELoss', normalize=True) for FPN features;
#   weakness_loss=dict(type='tst_mm.InvertedDetectionLosses'): the student's own losses,
#     inverted during search steps only.
_base_ = ['mmdet::_base_/schedules/schedule_2x.py', './tst_runtime.py']

optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student=dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)),
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
param_scheduler = dict(
    _delete_=True,
    student=[
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
        dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22],
             gamma=0.1)
    ],
    augmenter=[])
train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=24,
                 search_epochs=[6, 12], search_passes=1)
