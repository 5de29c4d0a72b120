"""A search step of the real distiller logs exactly its objective's terms on the ``x'`` it drew:
the paper's form from the config's weights, and the gated form with the teacher's logits on the
clean batch."""
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

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def _build(teacher_ckpt, data_root, **model_options):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')).model
    cfg.teacher_ckpt = teacher_ckpt
    cfg.update(model_options)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    model.set_phase('search')
    optim = sgd_optim_wrappers(model, augmenter_lr=0.1)
    return model, optim, pseudo_collate(fashion_samples(data_root, 16))


def _logits(classifier, inputs):
    return classifier.head(classifier.extract_feat(inputs))


def _direct(model, batch):
    """Teacher and student logits on the ``x'`` a step with seed 0 draws, the teacher's on
    ``x``, and the labels, computed here without the distiller's step."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    labels = torch.cat([sample.gt_label for sample in data['data_samples']])
    with torch.no_grad():
        model.load_teacher()
        model.student.eval()
        model.teacher.eval()
        torch.manual_seed(0)
        inputs, _ = model.augmenter(data['inputs'], copy.deepcopy(data['data_samples']))
        out = (_logits(model.teacher, inputs), _logits(model.student, inputs),
               _logits(model.teacher, data['inputs']), labels)
        model.train()
    return out


def _step(model, optim, batch):
    torch.manual_seed(0)
    return model.train_step(copy.deepcopy(batch), optim)


def test_default_search_step_is_the_weighted_teacher_ce_and_student_weakness(
        fashion_teacher_ckpt, fashion_mnist_root):
    model, optim, batch = _build(fashion_teacher_ckpt, fashion_mnist_root,
                                 search_loss_weights=dict(teacher=2.0, weakness=0.5))
    teacher, student, _, labels = _direct(model, batch)
    log_vars = _step(model, optim, batch)
    p_y = student.softmax(1).gather(1, labels[:, None])[:, 0]
    weakness = model.weakness_loss(student, labels)  # the configured loss (clamped log)
    assert torch.allclose(weakness, -torch.log1p(-p_y).mean(), rtol=1e-3)
    assert float(log_vars['augment.loss_teacher']) == pytest.approx(
        2.0 * float(F.cross_entropy(teacher, labels)), rel=1e-5)
    assert float(log_vars['augment.loss_weakness']) == pytest.approx(
        0.5 * float(weakness), rel=1e-5)


def test_gated_search_step_uses_the_teachers_clean_logits(fashion_teacher_ckpt,
                                                          fashion_mnist_root):
    model, optim, batch = _build(
        fashion_teacher_ckpt, fashion_mnist_root,
        search_objective=dict(type='tst_mm.TeacherGatedObjective', hinge_weight=3.0))
    teacher, student, teacher_clean, labels = _direct(model, batch)
    log_vars = _step(model, optim, batch)
    hinge = torch.relu(F.cross_entropy(teacher, labels, reduction='none')
                       - F.cross_entropy(teacher_clean, labels, reduction='none')).mean()
    gate = (teacher.argmax(1) == labels).float()
    p_y = student.softmax(1).gather(1, labels[:, None])[:, 0]
    assert float(log_vars['augment.loss_teacher']) == pytest.approx(3.0 * float(hinge),
                                                                    rel=1e-5, abs=1e-7)
    assert float(log_vars['augment.gate_open']) == pytest.approx(float(gate.mean()))
    assert 0 < gate.sum() < len(gate)  # some gates open, some closed
    assert float(log_vars['augment.loss_weakness']) == pytest.approx(
        float((gate * -torch.log1p(-p_y)).sum() / gate.sum()), rel=1e-3)
