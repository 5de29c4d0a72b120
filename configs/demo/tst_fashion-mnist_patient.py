# TST on Fashion-MNIST in a regime where its premises can hold (the patient classification
# study, benchmarks/cls_quality.py --preset patient): a teacher trained 15 epochs on the 60k
# images with crop + flip (configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py), a
# student with 4x fewer parameters (ResNet-18 layout at 1/8 width, 175k), crop + flip before
# the augmenter, a fixed 2,500-image subset, 80 epochs of SGD 0.1 (Nesterov) with the lr x0.1
# at epochs 50, 60 and 70, and search phases of 10 passes before 12.5% and 37.5% of training
# with the authors' search optimisation (fresh augmenter optimizer per phase, lr x0.9 on a
# plateau: the loop's default). Why 2.5k x 80 and not 5k x 40 (the same 1,600 steps): at 5k x
# 40 the student alone fit its subset only to 90.6% (3.0 points above its test accuracy), so
# there was little left for hard samples to teach; at 2.5k x 80 it reached 95.4% (7.4 above).
#   python tools/train.py configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py \
#       --work-dir work_dirs/bench/teacher_crop-flip_15e
#   python tools/train.py configs/demo/tst_fashion-mnist_patient.py
_base_ = ['./tst_fashion-mnist.py']

model = dict(
    student=dict(backbone=dict(stem_channels=8, base_channels=8), head=dict(in_channels=64)),
    teacher='{{ fileDirname }}/resnet18-tiny_fashion-mnist_crop-flip_15e.py',  # beside this file
    teacher_ckpt='work_dirs/bench/teacher_crop-flip_15e/epoch_15.pth')

train_dataloader = dict(dataset=dict(indices=2500, pipeline={{_base_.crop_flip_train_pipeline}}))

optim_wrapper = dict(
    student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)))
param_scheduler = dict(
    student=[dict(type='MultiStepLR', by_epoch=True, milestones=[50, 60, 70], gamma=0.1)],
    augmenter=[])

train_cfg = dict(max_epochs=80, search_epochs=[10, 30], search_passes=10, val_interval=80)
custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook'),
                dict(type='tst_mm.TSTDiagnosticsHook', eval_train_subset=True)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
