"""The teacher-gated search objective moves the policy the way it means, on a fixed batch.

Teacher and student are the demo classifier trained here (the teacher for longer). The batch
holds, in equal numbers, clean images only the teacher gets right and clean images only the
student gets right. Search steps go through the real distiller with the same augmenter draws
as the measurement (descent on what is measured).

What the gate itself does is tested where it decides alone: on ``x'`` the teacher gets
wrong, the gated weakness term gives the policy nothing to follow, and the same objective
with every gate open moves it. (Whether the gate alone, without the hinge, keeps ``x'`` out
of "both wrong" over several steps depends on the trained models: the policy is shared by
every sample, so the samples behind open gates move it for all of them. The search proxy
found it does not, ``docs/results.md``; a test asserting it failed on some machines.)
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
#: Images only the teacher gets right, and as many only the student gets right: up to
#: ``PER_KIND`` of each, and at least ``MIN_PER_KIND`` (how many there are depends on the
#: trained models, which differ a little between machines).
PER_KIND, MIN_PER_KIND = 32, 16

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
    only_teacher = torch.nonzero(t_right & ~s_right)[:, 0]
    only_student = torch.nonzero(~t_right & s_right)[:, 0]
    per_kind = min(len(only_teacher), len(only_student), PER_KIND)
    assert per_kind >= MIN_PER_KIND, (len(only_teacher), len(only_student))
    chosen = torch.cat([only_teacher[:per_kind], only_student[:per_kind]])
    batch = pseudo_collate([samples[i] for i in chosen])
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


def test_where_the_teacher_gets_no_x_prime_right_the_gate_leaves_the_policy_alone(
        teacher_and_student, fashion_mnist_root):
    """Every sample labelled with the class the teacher finds least likely on the clean
    image: the teacher gets no ``x'`` right, so every gate is closed and a search step of
    the gated weakness (no hinge) leaves the policy as it was; the same step with the gate
    removed moves it. Same start, same draws."""
    policies, gates = [], []
    for objective in (TeacherGatedObjective(hinge_weight=0.0), GateRemoved(hinge_weight=0.0)):
        model, optim, batch = _setup(teacher_and_student, fashion_mnist_root, objective,
                                     lr=20.0)
        with torch.no_grad():
            model.eval()
            clean = model.data_preprocessor(copy.deepcopy(batch), False)['inputs']
            least_likely = _logits(model.teacher, clean).argmin(1)
            model.train()
        for sample, label in zip(batch['data_samples'], least_likely):
            sample.gt_label = label.view(1)
        start = copy.deepcopy(model.augmenter.state_dict())
        torch.manual_seed(0)
        log_vars = model.train_step(copy.deepcopy(batch), optim)
        gates.append(float(log_vars['augment.gate_open']))
        policies.append((start, model.augmenter.state_dict()))
    (gated_start, gated_end), (open_start, open_end) = policies
    assert gates == [0.0, 1.0]  # the teacher got no x' right; without the gate all count
    for name, value in gated_start.items():
        torch.testing.assert_close(gated_end[name], value, rtol=0, atol=0)
        torch.testing.assert_close(open_start[name], value, rtol=0, atol=0)
    assert any(not torch.equal(open_end[name], open_start[name]) for name in open_start)
