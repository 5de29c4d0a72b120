# TST on Fashion-MNIST in a regime where its premises can hold (the patient classification
# study, benchmarks/cls_quality.py --preset patient): a teacher trained 15 epochs on the 60k
# images with crop + flip (configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py), a
# student with 4x fewer parameters (ResNet-18 layout at 1/8 width, 175k), crop + flip before
# the augmenter, a fixed 5,000-image subset, 40 epochs of SGD 0.1 (Nesterov) with the lr x0.1
# at epochs 25, 30 and 35, and search phases of 10 passes before 12.5% and 37.5% of training
# with the authors' search optimisation (fresh augmenter optimizer per phase, lr x0.9 on a
# plateau: the loop's default).
#   python tools/train.py configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py \
#       --work-dir work_dirs/bench/teacher_crop-flip_15e
#   python tools/train.py configs/demo/tst_fashion-mnist_patient.py
_base_ = ['./tst_fashion-mnist.py']

model = dict(
    student=dict(backbone=dict(stem_channels=8, base_channels=8), head=dict(in_channels=64)),
    teacher='configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py',
    teacher_ckpt='work_dirs/bench/teacher_crop-flip_15e/epoch_15.pth')

train_dataloader = dict(dataset=dict(indices=5000, pipeline={{_base_.crop_flip_train_pipeline}}))

optim_wrapper = dict(
    student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)))
param_scheduler = dict(
    student=[dict(type='MultiStepLR', by_epoch=True, milestones=[25, 30, 35], gamma=0.1)],
    augmenter=[])

train_cfg = dict(max_epochs=40, search_epochs=[5, 15], search_passes=10, val_interval=40)
custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook'),
                dict(type='tst_mm.TSTDiagnosticsHook', eval_train_subset=True)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=1))
