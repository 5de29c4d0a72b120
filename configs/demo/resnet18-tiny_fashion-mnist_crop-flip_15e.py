# The teacher of the patient classification study (configs/demo/tst_fashion-mnist_patient.py):
# the demo teacher's layout (ResNet-18 at 1/4 width, 699k parameters) trained 15 epochs on the
# 60k training images with random crop (pad 2) + horizontal flip.
#   python tools/train.py configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py
_base_ = ['./resnet18-tiny_fashion-mnist.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.crop_flip_train_pipeline}}))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=15)
train_cfg = dict(by_epoch=True, max_epochs=15, val_interval=5)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=1))
