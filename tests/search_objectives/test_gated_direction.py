"""The teacher-gated search objective moves the policy the way it means, on a fixed batch.

Teacher and student are the demo classifier trained here (the teacher for longer). The batch
holds, in equal numbers, clean images only the teacher gets right and clean images only the
student gets right: where the paper's kind of weakness term pushes the second kind towards
"both wrong", the gate leaves them alone. Search steps go through the real distiller with the
same augmenter draws as the measurement (descent on what is measured).
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from tst_testing import ROOT, fashion_samples, run_tool, sgd_optim_wrappers

import tst_mm  # noqa: F401
from tst_mm.registry import MODELS
from tst_mm.search_objectives import TeacherGatedObjective

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')
TEACHER_CONFIG = 'configs/demo/resnet18-tiny_fashion-mnist.py'
SEEDS = range(4)  # the augmenter's random draws of each step and of each measurement
PER_KIND = 32  # images only the teacher gets right, and as many only the student gets right

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('mmpretrain_scope')]


class GateRemoved(TeacherGatedObjective):
    """The same objective with every gate open: what the test must tell apart."""

    def gate_of(self, teacher_logits, labels):
        return torch.ones_like(labels, dtype=torch.float32)


@pytest.fixture(scope='module')
def teacher_and_student(fashion_mnist_root, tmp_path_factory):
    """Checkpoints of the demo classifier: 4 epochs on 4k images, and 2 on 2k (seed 1)."""
    ckpts = []
    for name, images, epochs, seed in (('teacher', 4096, 4, 0), ('student', 2048, 2, 1)):
        work_dir = str(tmp_path_factory.mktemp(f'gated_{name}'))
        run_tool('tools/train.py', TEACHER_CONFIG, '--work-dir', work_dir, '--cfg-options',
                 *[f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
                   for split in ('train', 'val', 'test')],
                 f'train_dataloader.dataset.indices={images}',
                 'val_dataloader.dataset.indices=256', f'train_cfg.max_epochs={epochs}',
                 f'randomness.seed={seed}')
        ckpts.append(osp.join(work_dir, f'epoch_{epochs}.pth'))
    return ckpts


def _setup(ckpts, data_root, objective, lr):
    """Distiller (policy at the demo's start), optimizers, and the mixed batch."""
    teacher_ckpt, student_ckpt = ckpts
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher_ckpt = teacher_ckpt
    cfg.student = cfg.teacher
    model = MODELS.build(cfg)
    model.init_weights()
    model.student.load_state_dict(torch.load(student_ckpt)['state_dict'])
    model.search_objective = objective
    model.train()
    model.set_phase('search')
    optim = sgd_optim_wrappers(model, augmenter_lr=lr)
    samples = fashion_samples(data_root, 1024)
    data = model.data_preprocessor(pseudo_collate(copy.deepcopy(samples)), False)
    labels = torch.cat([sample.gt_label for sample in data['data_samples']])
    with torch.no_grad():
        model.eval()
        t_right = _logits(model.teacher, data['inputs']).argmax(1) == labels
        s_right = _logits(model.student, data['inputs']).argmax(1) == labels
        model.train()
    only_teacher = torch.nonzero(t_right & ~s_right)[:PER_KIND, 0]
    only_student = torch.nonzero(~t_right & s_right)[:PER_KIND, 0]
    assert len(only_teacher) == len(only_student) == PER_KIND
    batch = pseudo_collate([samples[i] for i in torch.cat([only_teacher, only_student])])
    return model, optim, batch


def _logits(classifier, inputs):
    return classifier.head(classifier.extract_feat(inputs))


def _on_augmented(model, batch):
    """Means over :data:`SEEDS`: the share of ``x'`` only the teacher gets right (TRSW), the
    share both get wrong, and the teacher's true-class probability."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    labels = torch.cat([sample.gt_label for sample in data['data_samples']])
    trsw, both_wrong, teacher_py = [], [], []
    with torch.no_grad():
        model.student.eval()  # the augmenter draws as in training
        model.teacher.eval()
        for seed in SEEDS:
            torch.manual_seed(seed)
            inputs, _ = model.augmenter(data['inputs'], copy.deepcopy(data['data_samples']))
            teacher, student = _logits(model.teacher, inputs), _logits(model.student, inputs)
            t_right, s_right = teacher.argmax(1) == labels, student.argmax(1) == labels
            trsw.append((t_right & ~s_right).float().mean())
            both_wrong.append((~t_right & ~s_right).float().mean())
            teacher_py.append(teacher.softmax(1).gather(1, labels[:, None]).mean())
        model.train()
    return {name: float(torch.stack(values).mean()) for name, values in
            (('trsw', trsw), ('both_wrong', both_wrong), ('teacher_py', teacher_py))}


def _search(model, optim, batch, rounds=3):
    for _ in range(rounds):
        for seed in SEEDS:
            torch.manual_seed(seed)
            model.train_step(copy.deepcopy(batch), optim)


def _searched(ckpts, data_root, objective, lr):
    model, optim, batch = _setup(ckpts, data_root, objective, lr)
    before = _on_augmented(model, batch)
    _search(model, optim, batch)
    return before, _on_augmented(model, batch)


def test_gated_search_raises_teacher_right_student_wrong_and_keeps_the_teacher(
        teacher_and_student, fashion_mnist_root):
    before, after = _searched(teacher_and_student, fashion_mnist_root,
                              TeacherGatedObjective(), lr=5.0)
    assert after['trsw'] > before['trsw'] + 0.05, (before, after)
    assert after['teacher_py'] >= before['teacher_py'] - 0.01, (before, after)


def test_the_gate_keeps_the_search_from_making_both_models_wrong(
        teacher_and_student, fashion_mnist_root):
    # without the hinge, only the gate stands between the weakness term and the teacher
    before, gated = _searched(teacher_and_student, fashion_mnist_root,
                              TeacherGatedObjective(hinge_weight=0.0), lr=20.0)
    same_before, open_ = _searched(teacher_and_student, fashion_mnist_root,
                                   GateRemoved(hinge_weight=0.0), lr=20.0)
    assert before == same_before  # the same start, the same draws
    assert gated['both_wrong'] < open_['both_wrong'] - 0.03, (gated, open_)
    assert gated['teacher_py'] > open_['teacher_py'] + 0.015, (gated, open_)
    assert gated['trsw'] > open_['trsw'], (gated, open_)
