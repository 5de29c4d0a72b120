# TST on the Cityscapes-layout scenes, CPU-sized: the stock demo PSPNet (ResNetV1c-18 at 1/4
# width; trained with tools/train.py configs/demo/pspnet_r18-tiny_scenes.py) distils the same
# PSPNet at 1/8 width. The mirror of configs/tst/pspnet_r101-d8_r18-d8_cityscapes-512x1024.py:
# KL (tau 1) on decode (x1.5) and auxiliary (x0.5) logits, the augmenter in compose mode, and
# search phases at "epochs" 0, 6 and 12: 64 training scenes at batch 4 are 16 iterations per
# epoch, so search_at = [0, 96, 192] with search_iters = 16.
#   python tools/train.py configs/demo/tst_pspnet_scenes.py \
#       --cfg-options model.teacher_ckpt=work_dirs/pspnet_r18-tiny_scenes/iter_400.pth
_base_ = ['./pspnet_r18-tiny_scenes.py']

custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
# Stock launchers (the toolboxes' tools/train.py, mim train) wrap TST with this under DDP.
model_wrapper_cfg = dict(type='tst_mm.TSTDistributedWrapper')

norm_cfg = dict(type='BN', requires_grad=True)
iters_per_epoch = 16  # 64 scenes / batch 4

student = dict(
    type='EncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
    pretrained=None,
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, num_stages=4,
                  out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                  norm_cfg=norm_cfg, norm_eval=False, style='pytorch', contract_dilation=True),
    decode_head=dict(type='PSPHead', in_channels=64, in_index=3, channels=16,
                     pool_scales=(1, 2, 3, 6), dropout_ratio=0.1, num_classes=11,
                     norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0)),
    auxiliary_head=dict(type='FCNHead', in_channels=32, in_index=2, channels=8, num_convs=1,
                        concat_input=False, dropout_ratio=0.1, num_classes=11,
                        norm_cfg=norm_cfg, align_corners=False,
                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                         loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

model = dict(
    _delete_=True,
    type='tst_mm.TSTDistiller',
    student=student,
    teacher='{{ fileDirname }}/pspnet_r18-tiny_scenes.py',  # beside this file
    teacher_ckpt='work_dirs/pspnet_r18-tiny_scenes/iter_400.pth',
    augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='compose',
                   seg_ignore_index=255),
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
    student=[dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=400, by_epoch=False)],
    augmenter=[])

train_cfg = dict(
    _delete_=True,
    type='tst_mm.TSTIterBasedTrainLoop',
    max_iters=400,
    val_interval=200,
    search_at=[0, 6 * iters_per_epoch, 12 * iters_per_epoch],
    search_iters=iters_per_epoch,
    search_passes=1)
custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook'), dict(type='tst_mm.TSTSampleGridHook')]
