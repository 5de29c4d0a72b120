# TST on Fashion-MNIST, CPU-sized: a ResNet-18 layout teacher at 1/4 width (the stock demo
# config, trained by `python tools/demo.py` or tools/train.py) distils a 1/16-width student
# trained on a fixed 10k-image subset. Search phases of 1 pass before epochs 1 and 3.
#   python tools/train.py configs/demo/tst_fashion-mnist.py \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/epoch_2.pth
_base_ = ['mmpretrain::_base_/default_runtime.py', '../_base_/datasets/fashion-mnist.py']

custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
# Stock launchers (the toolboxes' tools/train.py, mim train) wrap TST with this under DDP.
model_wrapper_cfg = dict(type='tst_mm.TSTDistributedWrapper')

student = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet_CIFAR', depth=18, in_channels=1, stem_channels=4,
                  base_channels=4, num_stages=4, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=32,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))

model = dict(
    type='tst_mm.TSTDistiller',
    student=student,
    teacher='{{ fileDirname }}/resnet18-tiny_fashion-mnist.py',  # beside this file
    teacher_ckpt='work_dirs/demo/teacher/epoch_2.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='blend'),
    distill_losses=dict(kd=dict(type='tst_mm.KDLoss', tau=4.0, loss_weight=1.0)),
    weakness_loss=dict(type='tst_mm.StudentWeaknessLoss'),
    search_loss_weights=dict(teacher=1.0, weakness=1.0),
    augment_ratio=1.0)

train_dataloader = dict(batch_size=128, dataset=dict(indices=10000))

optim_wrapper = dict(
    constructor='tst_mm.TSTOptimWrapperConstructor',
    student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4)),
    augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
param_scheduler = dict(
    student=[dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=4)],
    augmenter=[])

train_cfg = dict(type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=4, search_epochs=[1, 3],
                 search_passes=1, val_interval=1)
val_cfg = dict()
test_cfg = dict()
custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook'), dict(type='tst_mm.TSTSampleGridHook'),
                dict(type='tst_mm.TSTTeacherEvalHook')]
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
randomness = dict(seed=0)
