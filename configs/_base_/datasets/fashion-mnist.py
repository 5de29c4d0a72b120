# Fashion-MNIST (28x28 grey) for mmpretrain, prepared offline by
# `python tools/data/prepare_fashion_mnist.py --out data/fashion-mnist`.
dataset_type = 'FashionMNIST'
data_root = 'data/fashion-mnist'
data_preprocessor = dict(num_classes=10, mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [dict(type='PackInputs')]
# CIFAR-style base augmentation, for configs that train with it (the patient study): a random
# 28x28 crop of the image zero-padded by 2 pixels, and a horizontal flip with probability 0.5.
crop_flip_train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='train', download=False,
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    # mmpretrain's MNIST datasets choose the test files by test_mode, not by split
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True,
                 download=False, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
