"""docs/design.md's "add a task, an op" walkthrough, run for real.

The page's ``my_tst_parts.py`` block is written into a folder outside the package and loaded
by a config's ``custom_imports``; the op it registers is then drawn by the augmenter, the
adapter it registers is picked for its model, and a ``tst_mm.TSTDistiller`` built on both runs a
search step and a distillation step, with values checked.
"""
import copy
import os.path as osp
import re
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement
from tst_testing import ROOT, sgd_optim_wrappers

import tst_mm  # noqa: F401
from tst_mm.distill import adapter_for
from tst_mm.registry import AUGMENT_OPS, MODELS, TASK_ADAPTERS
from tst_mm.search_objectives import PaperSearchObjective, SearchEvidence

BLOCK = re.compile(r'^```py\n# my_tst_parts\.py\n(.*?)^```', re.MULTILINE | re.DOTALL)


@pytest.fixture
def parts_config(tmp_path, monkeypatch):
    """A config that imports the page's module from ``tmp_path``; unregistered afterwards."""
    with open(osp.join(ROOT, 'docs', 'design.md'), encoding='utf-8') as f:
        match = BLOCK.search(f.read())
    assert match, 'docs/design.md has no ```py block starting with "# my_tst_parts.py"'
    (tmp_path / 'my_tst_parts.py').write_text(match.group(1))
    (tmp_path / 'my_config.py').write_text(
        "custom_imports = dict(imports=['my_tst_parts'], allow_failed_imports=False)\n"
        "augmenter = dict(type='tst_mm.LearnableAugmenter', ops=['gamma'], num_ops=None,\n"
        "                 init_probability_logit=20.0, signs='positive')\n"
        "model = dict(type='PointRegressor', channels=3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield Config.fromfile(str(tmp_path / 'my_config.py'))
    finally:
        AUGMENT_OPS._module_dict.pop('gamma', None)
        TASK_ADAPTERS._module_dict.pop('PointAdapter', None)
        MODELS._module_dict.pop('PointRegressor', None)
        sys.modules.pop('my_tst_parts', None)


def test_custom_imports_registers_the_op_and_the_adapter(parts_config):
    assert 'gamma' in AUGMENT_OPS.module_dict
    assert list(TASK_ADAPTERS.module_dict)[-1] == 'PointAdapter'  # tried after the built-ins
    assert sys.modules['my_tst_parts'].__file__.startswith(osp.dirname(parts_config.filename))


def test_the_augmenter_draws_the_new_op(parts_config):
    with DefaultScope.overwrite_default_scope('tst_mm'):
        augmenter = MODELS.build(parts_config.augmenter)
    assert augmenter.op_names == augmenter.magnitude_op_names == ['gamma']
    torch.manual_seed(0)
    images = torch.rand(2, 3, 8, 8) * 0.9 + 0.05
    out, _ = augmenter(images)
    assert augmenter.last_ops == ['gamma']
    assert torch.equal(augmenter.last_gates, torch.ones(2, 1))  # probability logit 20
    # magnitude logit 0 -> m = 0.5 -> value = 0 + (0.5 - 0) * 0.5 = 0.25, positive sign
    torch.testing.assert_close(out, images ** 1.25)
    out.sum().backward()  # the magnitude learns through the op
    assert augmenter.magnitude_logits.grad.abs().item() > 0


def test_the_new_adapter_is_picked_for_its_model(parts_config):
    with DefaultScope.overwrite_default_scope('tst_mm'):
        student = MODELS.build(parts_config.model)
        teacher = MODELS.build(parts_config.model)
    adapter = adapter_for(student)
    assert type(adapter).__name__ == 'PointAdapter' and adapter.task == 'point regression'
    adapter.check_compatible(teacher)
    assert adapter.compares('kd') == 'points'

    inputs = torch.rand(3, 3, 4, 4)
    samples = [BaseDataElement(gt_point=torch.tensor([0.5, float(i)])) for i in range(3)]
    targets = torch.stack([s.gt_point for s in samples])
    losses = adapter.distill_losses(teacher, inputs, samples,
                                    {'kd': torch.nn.MSELoss()})
    with torch.no_grad():
        expected_student = F.mse_loss(student(inputs), targets)
        expected_kd = F.mse_loss(student(inputs), teacher(inputs))
    assert set(losses) == {'student.loss_point', 'distill.loss_kd'}
    torch.testing.assert_close(losses['student.loss_point'], expected_student)
    torch.testing.assert_close(losses['distill.loss_kd'], expected_kd)
    objective = PaperSearchObjective()
    adapter.check_search_objective(objective)
    search = objective(SearchEvidence(adapter.search_evidence(teacher, inputs, samples)))
    torch.testing.assert_close(search['augment.loss_teacher'].detach(),
                               F.mse_loss(teacher(inputs), targets).detach())
    torch.testing.assert_close(search['augment.loss_weakness'],
                               1.0 / (1.0 + expected_student))


def test_a_model_no_adapter_matches_is_named_in_one_line(parts_config):
    with pytest.raises(TypeError, match=r'^Linear is not a supported student/teacher type: '
                                        r'no task adapter matches it \(registered: .*'
                                        r"'PointAdapter'\]\)") as info:
        adapter_for(torch.nn.Linear(2, 2))
    assert '\n' not in str(info.value)


def test_a_distiller_built_on_the_pages_parts_searches_and_distils(parts_config, tmp_path):
    """The paper's objective reads the page's evidence, and the distillation step trains the
    student on ``[x'; x]`` with the page's losses: each logged value and the student's SGD
    update are recomputed here without the distiller."""
    with DefaultScope.overwrite_default_scope('tst_mm'):
        torch.manual_seed(0)
        teacher = MODELS.build(parts_config.model)
        ckpt = str(tmp_path / 'teacher.pth')
        torch.save({'state_dict': teacher.state_dict()}, ckpt)
        model = MODELS.build(dict(
            type='tst_mm.TSTDistiller', student=parts_config.model, teacher=parts_config.model,
            teacher_ckpt=ckpt, augmenter=parts_config.augmenter,
            distill_losses=dict(kd=dict(type='tst_mm.KDLoss', tau=1.0))))
    model.init_weights()
    model.train()
    optim = sgd_optim_wrappers(model, augmenter_lr=0.1, student_lr=0.5)
    torch.manual_seed(1)
    images = torch.rand(4, 3, 8, 8) * 0.9 + 0.05
    samples = [BaseDataElement(gt_point=torch.tensor([0.5, float(i)])) for i in range(4)]
    targets = torch.stack([s.gt_point for s in samples])
    batch = dict(inputs=images, data_samples=samples)
    student, teacher = model.student, model.teacher
    assert torch.equal(teacher.head.weight, torch.load(ckpt)['state_dict']['head.weight'])

    # search: x' = images ** 1.25 (the op always applies, magnitude 0.5, positive sign)
    x_prime = images ** 1.25
    with torch.no_grad():
        teacher_loss = F.mse_loss(teacher(x_prime), targets)
        inverted = 1.0 / (1.0 + F.mse_loss(student(x_prime), targets))
    magnitude, student_weight = (model.augmenter.magnitude_logits.detach().clone(),
                                 student.head.weight.detach().clone())
    model.set_phase('search')
    log_vars = model.train_step(copy.deepcopy(batch), optim)
    assert float(log_vars['augment.loss_teacher']) == pytest.approx(float(teacher_loss))
    assert float(log_vars['augment.loss_weakness']) == pytest.approx(float(inverted))
    assert not torch.equal(model.augmenter.magnitude_logits, magnitude)  # the policy learned
    assert torch.equal(student.head.weight, student_weight)  # the student did not

    # distillation: one SGD step (lr 0.5) on the student task loss + KD on [x'; x]
    torch.manual_seed(2)
    with torch.no_grad():
        x_prime, _ = model.augmenter(images, copy.deepcopy(samples))
    both, both_targets = torch.cat([x_prime, images]), torch.cat([targets, targets])
    reference = copy.deepcopy(student)
    point_loss = F.mse_loss(reference(both), both_targets)
    with torch.no_grad():
        teacher_points = teacher(both)
    kd_loss = model.distill_losses['kd'](reference(both), teacher_points)
    (point_loss + kd_loss).backward()
    model.set_phase('distill')
    torch.manual_seed(2)
    log_vars = model.train_step(copy.deepcopy(batch), optim)
    assert float(log_vars['student.loss_point']) == pytest.approx(float(point_loss))
    assert float(log_vars['distill.loss_kd']) == pytest.approx(float(kd_loss))
    torch.testing.assert_close(student.head.weight,
                               reference.head.weight - 0.5 * reference.head.weight.grad)
    assert torch.equal(teacher.head.weight, torch.load(ckpt)['state_dict']['head.weight'])
