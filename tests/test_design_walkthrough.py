"""docs/design.md's "add a task, an op" walkthrough, run for real.

The page's ``my_tst_parts.py`` block is written into a folder outside the package and loaded
by a config's ``custom_imports``; the op it registers is then drawn by the augmenter and the
adapter it registers is picked for its model, with values checked.
"""
import os.path as osp
import re
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement
from tst_testing import ROOT

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
