# TST on ImageNet-1k: ResNet-50 (mmpretrain model zoo) -> MobileNet-V2, 100 epochs, search
# phases of 5 passes before epochs 10 and 25, KD with T = 1 (TST.md's schedule; the paper's
# student is MobileNet-V1, which mmpretrain does not ship). Student optimizer as in its
# mmpretrain config (SGD, lr 0.045); cosine decay over the 100 epochs replaces that config's
# 300-epoch step decay. Data as the student's config has it.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py', '../_base_/tst_in1k_100e.py'
]

model = dict(
    student='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    teacher='mmpretrain::resnet/resnet50_8xb32_in1k.py',
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/'
    'resnet50_8xb32_in1k_20210831-ea4938fc.pth')
optim_wrapper = dict(
    student=dict(optimizer=dict(type='SGD', lr=0.045, momentum=0.9, weight_decay=4e-5)))
param_scheduler = dict(student=[dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=100)])
