"""TSTDiagnosticsHook and RepeatedViewsSampler through real Runners on Fashion-MNIST."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from tst_testing import ROOT, fashion_runner_cfg

import tst_mm  # noqa: F401
from tst_mm.registry import DATASETS

PATIENT_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist_patient.py')


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


def _cfg(teacher_ckpt, data_root, work_dir):
    """The patient study's config at toy size: 2 epochs of 192 images."""
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist_patient.py', teacher_ckpt,
                             data_root, work_dir, 'diag')
    cfg.train_cfg.update(max_epochs=2, search_epochs=[1], search_passes=2, val_interval=2)
    cfg.param_scheduler.student[0].milestones = [1]
    return cfg


def _scalars(runner):
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f]


def test_epoch_diagnostics_and_train_subset_accuracy(fashion_teacher_ckpt, fashion_mnist_root,
                                                     tmp_path):
    cfg = _cfg(fashion_teacher_ckpt, fashion_mnist_root, tmp_path)
    cfg.model.teacher_correct_only = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = _scalars(runner)
    epochs = [r for r in scalars if 'epoch/diag.teacher_top1_aug' in r]
    assert len(epochs) == 2  # one record per epoch
    for record in epochs:
        for key in ('teacher_top1_aug', 'student_top1_aug', 'teacher_py_aug', 'student_py_aug'):
            assert 0.0 <= record[f'epoch/diag.{key}'] <= 1.0
        # the filter leaves out exactly what the teacher gets wrong on x'
        assert record['epoch/distill.dropped_aug'] == pytest.approx(
            1.0 - record['epoch/diag.teacher_top1_aug'], abs=1e-6)

    # the train-subset accuracy is the student's on those 192 images with the test pipeline
    (logged, ) = [r['train_subset/accuracy/top1'] for r in scalars
                  if 'train_subset/accuracy/top1' in r]
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=fashion_mnist_root,
                                  split='train', download=False, indices=192,
                                  pipeline=[dict(type='PackInputs')]))
    student = runner.model.student
    student.eval()
    correct = 0
    with torch.no_grad():
        for i in range(len(dataset)):
            item = dataset[i]
            data = student.data_preprocessor(
                dict(inputs=[item['inputs']], data_samples=[item['data_samples']]), False)
            logits = student.head(student.extract_feat(data['inputs']))
            correct += int(logits.argmax(1).item() == item['data_samples'].gt_label.item())
    assert logged == pytest.approx(100.0 * correct / len(dataset))


def test_two_view_sampler_puts_two_independent_views_of_each_image_in_a_batch(
        fashion_mnist_root):
    cfg = Config.fromfile(PATIENT_CONFIG).train_dataloader
    cfg.dataset.data_root = fashion_mnist_root
    cfg.dataset.indices = 20
    cfg.batch_size = 8
    cfg.sampler = dict(type='tst_mm.RepeatedViewsSampler', num_views=2, shuffle=True, seed=0)
    loader = Runner.build_dataloader(cfg, seed=0)
    assert len(loader.sampler) == 40 and len(loader) == 5
    seen, differing = [], 0
    for batch in loader:
        indices = [s.sample_idx for s in batch['data_samples']]
        assert indices[0::2] == indices[1::2]  # each image twice, side by side
        seen.extend(indices[0::2])
        for a, b in zip(batch['inputs'][0::2], batch['inputs'][1::2]):
            differing += not torch.equal(a, b)
    assert sorted(seen) == list(range(20))  # every image once per epoch
    assert differing >= 10  # crop + flip drawn independently for each view
    with pytest.raises(ValueError, match='num_views'):
        tst_mm.datasets.RepeatedViewsSampler(list(range(4)), num_views=0)
