"""``teacher_correct_only``: KD leaves out exactly the parts of x' the teacher gets wrong."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.distill.task_adapters.classification import _logits
from tst_mm.losses import KDLoss
from tst_mm.registry import DATASETS, MODELS

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


def _distiller(teacher_ckpt, **overrides):
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher = osp.join(ROOT, cfg.teacher)
    cfg.teacher_ckpt = teacher_ckpt
    cfg.update(overrides)
    model = MODELS.build(cfg)
    model.load_teacher()  # as when training starts
    return model


def _preprocessed(model, fashion_mnist_root, num=16):
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=fashion_mnist_root,
                                  split='train', download=False,
                                  pipeline=[dict(type='PackInputs')], indices=num))
    return model.data_preprocessor(pseudo_collate([dataset[i] for i in range(num)]), True)


def test_classification_kd_drops_exactly_the_augmented_samples_the_teacher_gets_wrong(
        fashion_teacher_ckpt, fashion_mnist_root):
    model = _distiller(fashion_teacher_ckpt, teacher_correct_only=True)
    data = _preprocessed(model, fashion_mnist_root)
    inputs = torch.cat([data['inputs'], data['inputs']])  # [x'; x], x' = x for control
    samples = [s.clone() for s in data['data_samples']] + list(data['data_samples'])
    with torch.no_grad():
        teacher_pred = _logits(model.teacher, inputs).argmax(dim=1)
    # relabel x': the teacher is right on samples 0, 2, 4, ... and wrong on the others
    num = data['inputs'].shape[0]
    for i in range(num):
        label = teacher_pred[i] if i % 2 == 0 else (teacher_pred[i] + 1) % 10
        samples[i].set_gt_label(int(label))
    losses = model.adapter.distill_losses(model.teacher, inputs, samples,
                                          model.distill_losses, num_augmented=num,
                                          teacher_correct_only=True)
    assert float(losses['distill.dropped_aug']) == pytest.approx(0.5)
    assert float(losses['diag.teacher_top1_aug']) == pytest.approx(0.5)

    keep = torch.tensor([i % 2 == 0 for i in range(num)] + [True] * num)
    with torch.no_grad():
        student_logits = _logits(model.student, inputs)
        teacher_logits = _logits(model.teacher, inputs)
    expected = KDLoss(tau=4.0)(student_logits[keep], teacher_logits[keep])
    torch.testing.assert_close(losses['distill.loss_kd'].detach(), expected)
    unfiltered = model.adapter.distill_losses(model.teacher, inputs, samples,
                                              model.distill_losses, num_augmented=num)
    assert 'distill.dropped_aug' not in unfiltered
    torch.testing.assert_close(unfiltered['distill.loss_kd'].detach(),
                               KDLoss(tau=4.0)(student_logits, teacher_logits))
    # the student's cross-entropy still sees every sample, filter or not
    torch.testing.assert_close(losses['student.loss'], unfiltered['student.loss'])


def test_classification_diagnostics_measure_teacher_and_student_on_the_augmented_part(
        fashion_teacher_ckpt, fashion_mnist_root):
    model = _distiller(fashion_teacher_ckpt)
    model.eval()  # BN on running statistics: a sample's logits do not depend on its batch
    data = _preprocessed(model, fashion_mnist_root)
    num = 4
    inputs, samples = data['inputs'], data['data_samples']
    losses = model.adapter.distill_losses(model.teacher, inputs, samples,
                                          model.distill_losses, num_augmented=num)
    labels = torch.cat([s.gt_label for s in samples[:num]])
    with torch.no_grad():
        for role in ('teacher', 'student'):
            logits = _logits(getattr(model, role), inputs[:num])
            top1 = (logits.argmax(1) == labels).float().mean()
            p_y = torch.softmax(logits, 1)[torch.arange(num), labels].mean()
            assert float(losses[f'diag.{role}_top1_aug']) == pytest.approx(float(top1))
            assert float(losses[f'diag.{role}_py_aug']) == pytest.approx(float(p_y), rel=1e-5)
            assert not losses[f'diag.{role}_py_aug'].requires_grad
    # no augmented part, no diagnostics
    plain = model.adapter.distill_losses(model.teacher, inputs, samples,
                                         model.distill_losses)
    assert not any(key.startswith('diag.') for key in plain)


def test_a_distill_step_logs_the_share_left_out(fashion_teacher_ckpt, fashion_mnist_root):
    from mmengine.optim import build_optim_wrapper
    model = _distiller(fashion_teacher_ckpt, teacher_correct_only=True)
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=fashion_mnist_root,
                                  split='train', download=False,
                                  pipeline=[dict(type='PackInputs')], indices=16))
    batch = pseudo_collate([dataset[i] for i in range(16)])
    optim = build_optim_wrapper(model, Config.fromfile(TST_CONFIG).optim_wrapper)
    log_vars = model.train_step(batch, optim)
    assert 0.0 <= float(log_vars['distill.dropped_aug']) <= 1.0
    assert 1.0 - float(log_vars['distill.dropped_aug']) == pytest.approx(
        float(log_vars['diag.teacher_top1_aug']))
