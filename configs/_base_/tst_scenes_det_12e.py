# TST on the detection scene demos' schedule (scenes_det_12e.py): the student keeps its SGD and
# learning-rate schedule, the augmenter gets SGD (lr 0.01), and search phases of one pass run
# before epochs 4 and 7; TST's runtime (tst_runtime.py). A demo lists its student's model and
# data parts and this file, and puts the student's model into the distiller.
_base_ = ['./scenes_det_12e.py', './tst_runtime.py']

optim_wrapper = dict(
    _delete_=True,
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student={{_base_.optim_wrapper}},
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
param_scheduler = dict(_delete_=True, student={{_base_.param_scheduler}}, augmenter=[])
train_cfg = dict(_delete_=True, type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=12,
                 search_epochs=[3, 6], search_passes=1, val_interval=4)
