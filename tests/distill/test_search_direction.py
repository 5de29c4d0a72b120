"""The search step moves the policy the way TST means, on a fixed batch: the weakness term makes
augmented samples harder for the student, the teacher term keeps them easy for the teacher."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from tst_testing import ROOT, fashion_samples, sgd_optim_wrappers

import tst_mm  # noqa: F401
from tst_mm.registry import MODELS

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')
SEEDS = range(4)  # the augmenter's random draws (op subset, gate noise) of each step


pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def _setup(teacher_ckpt, data_root, teacher_weight, weakness_weight, lr):
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher_ckpt = teacher_ckpt
    cfg.search_loss_weights = dict(teacher=teacher_weight, weakness=weakness_weight)
    cfg.student = cfg.teacher  # a trained student (a random one is equally unsure of all x')
    model = MODELS.build(cfg)
    model.init_weights()
    model.student.load_state_dict(torch.load(teacher_ckpt)['state_dict'])
    model.train()
    model.set_phase('search')
    optim = sgd_optim_wrappers(model, augmenter_lr=lr)
    return model, optim, pseudo_collate(fashion_samples(data_root, 32))


def _on_augmented(model, batch):
    """Mean over :data:`SEEDS` of the student's p_y(x') and the teacher's CE on x'."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    labels = torch.cat([sample.gt_label for sample in data['data_samples']])
    p_y, teacher_ce = [], []
    with torch.no_grad():
        model.student.eval()
        for seed in SEEDS:
            torch.manual_seed(seed)
            inputs, _ = model.augmenter(data['inputs'], copy.deepcopy(data['data_samples']))
            student = model.student.head(model.student.extract_feat(inputs))
            teacher = model.teacher.head(model.teacher.extract_feat(inputs))
            p_y.append(student.softmax(1).gather(1, labels[:, None]).mean())
            teacher_ce.append(F.cross_entropy(teacher, labels))
        model.train()
    return float(torch.stack(p_y).mean()), float(torch.stack(teacher_ce).mean())


def _search(model, optim, batch, rounds=3):
    for _ in range(rounds):
        for seed in SEEDS:  # the same draws as the measurement: descent on its objective
            torch.manual_seed(seed)
            model.train_step(copy.deepcopy(batch), optim)


def test_weakness_only_steps_lower_the_students_true_class_probability(
        fashion_teacher_ckpt, fashion_mnist_root):
    # -log(1 - p_y) moves the policy slowly where p_y is small: a large step
    model, optim, batch = _setup(fashion_teacher_ckpt, fashion_mnist_root, 0.0, 1.0, lr=50.0)
    p_before, _ = _on_augmented(model, batch)
    student = copy.deepcopy(model.student.state_dict())
    _search(model, optim, batch)
    p_after, _ = _on_augmented(model, batch)
    assert p_after < p_before - 1e-3, (p_before, p_after)
    for key, value in model.student.state_dict().items():  # only the policy moved
        assert torch.equal(value, student[key]), key


def test_teacher_only_steps_lower_the_teachers_loss_on_augmented_samples(
        fashion_teacher_ckpt, fashion_mnist_root):
    model, optim, batch = _setup(fashion_teacher_ckpt, fashion_mnist_root, 1.0, 0.0, lr=0.5)
    _, ce_before = _on_augmented(model, batch)
    _search(model, optim, batch)
    _, ce_after = _on_augmented(model, batch)
    assert ce_after < ce_before - 1e-3, (ce_before, ce_after)
