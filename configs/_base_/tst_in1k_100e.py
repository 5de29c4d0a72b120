# TST as TST.md runs it on ImageNet-1k: 100 epochs, 8 GPUs x 32 images, search phases of 5
# passes before epochs 11 and 26 (after 10 and 25 completed epochs), KD with T = 1, the
# augmenter's 4 of 14 ops per batch in 'blend' mode (its default), on SGD (lr 0.01).
#
# mmpretrain's ImageNet schedule with TST's loop and two optimizers in place of its own, and
# TST's runtime. A pair config lists its student's data and runtime parts and this file, names
# student (its mmpretrain config: the model and its data_preprocessor), teacher and checkpoint
# in `model`, and adds the student's optimizer and learning-rate schedule
# (optim_wrapper.student, param_scheduler.student).
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs256.py', './tst_runtime.py']

model = dict(
    type='tst_mm.TSTDistiller',
    augmenter=dict(type='tst_mm.LearnableAugmenter'),
    distill_losses=dict(kd=dict(type='tst_mm.KDLoss', tau=1.0)))
optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))  # TST.md
param_scheduler = dict(_delete_=True, augmenter=[])
train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=100,
                 search_epochs=[10, 25], search_passes=5)
