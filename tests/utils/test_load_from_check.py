"""``load_from`` a checkpoint that fits (almost) nothing of the model is refused in one line;
one that fits in part is loaded, and how much of it is logged."""
import logging
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from torch import nn
from tst_testing import ROOT

from tst_mm.errors import CheckpointError, ConfigError
from tst_mm.registry import MODELS
from tst_mm.utils import check_load_from_checkpoint

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')


class Tiny(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(1, 4, 3)  # 40 weights
        self.head = nn.Linear(4, classes)  # 5 * classes


class Distiller(nn.Module):
    """Keys ``student.*`` as a TST distiller has them."""

    def __init__(self) -> None:
        super().__init__()
        self.student = Tiny()


def _save(model, path, prefix: str = '') -> str:
    state = {prefix + key: value for key, value in model.state_dict().items()}
    torch.save(dict(meta=dict(epoch=1), state_dict=state), path)
    return str(path)


def _cfg(path, resume: bool = False) -> Config:
    return Config(dict(load_from=str(path), resume=resume))


class _Logged:
    """The records mmengine's current logger emits while inside."""

    def __enter__(self) -> list:
        self.records = []
        self.handler = logging.Handler(logging.INFO)
        self.handler.emit = self.records.append
        MMLogger.get_current_instance().addHandler(self.handler)
        return self.records

    def __exit__(self, *exc) -> None:
        MMLogger.get_current_instance().removeHandler(self.handler)


def _refusal(cfg, model) -> str:
    with pytest.raises(CheckpointError) as err:
        check_load_from_checkpoint(cfg, model)
    assert isinstance(err.value, ConfigError) and '\n' not in str(err.value)
    return str(err.value)


def test_a_checkpoint_of_another_model_is_refused_with_counts(tmp_path):
    other = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 3))
    path = _save(other, tmp_path / 'other.pth')
    assert _refusal(_cfg(path), Tiny()) == (
        f'load_from {path} fits almost nothing of the model, which would train from random '
        "weights: 0 of the model's 4 tensors load from it (0% of its weights); missing 4 keys: "
        'backbone.weight, backbone.bias, head.weight (+1 more); unexpected 4 keys: 0.weight, '
        '0.bias, 1.weight (+1 more). Is it a checkpoint of this config (architecture and '
        'num_classes)?')


def test_almost_nothing_is_refused_too(tmp_path):
    # the head alone fits (4% of the weights): a random backbone under a loaded head
    state = {'head.weight': torch.zeros(30, 4), 'head.bias': torch.zeros(30),
             'backbone.weight': torch.zeros(8, 1, 3, 3)}
    torch.save(dict(state_dict=state), tmp_path / 'head.pth')
    model = nn.Sequential()
    model.add_module('backbone', nn.Conv2d(1, 400, 3))  # 4000 weights
    model.add_module('head', nn.Linear(4, 30))  # 150 weights
    line = _refusal(_cfg(tmp_path / 'head.pth'), model)
    assert "2 of the model's 4 tensors load from it (4% of its weights)" in line
    assert '1 shape mismatches (checkpoint vs model): backbone.weight (8, 1, 3, 3) vs ' \
           '(400, 1, 3, 3)' in line


def test_the_student_alone_and_a_tst_checkpoint_are_told_what_to_do_instead(tmp_path):
    student = _save(Tiny(), tmp_path / 'student.pth')
    line = _refusal(_cfg(student), Distiller())
    assert line.endswith(
        "It holds the student model alone (its keys lack the distiller's 'student.' prefix): "
        "to start the student from it, drop load_from and set model.student.init_cfg="
        f"dict(type='Pretrained', checkpoint='{student}')")
    tst = _save(Distiller(), tmp_path / 'tst.pth')
    assert _refusal(_cfg(tst), Tiny()).endswith(
        "It is a TST checkpoint (keys 'student.*'): give load_from the student that "
        'tools/export_student.py writes from it')


def test_a_partial_fit_loads_and_logs_the_counts(tmp_path):
    path = _save(Tiny(classes=5), tmp_path / 'five_classes.pth')  # fine-tuning to 3 classes
    with _Logged() as records:
        check_load_from_checkpoint(_cfg(path), Tiny(classes=3))
    (record, ) = [r for r in records if path in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"load_from {path} fits the model in part: 2 of the model's 4 tensors load from it "
        '(73% of its weights); 2 shape mismatches (checkpoint vs model): head.weight (5, 4) vs '
        '(3, 4), head.bias (5,) vs (3,)')
    own = _save(Tiny(), tmp_path / 'own.pth', prefix='module.')  # saved from DDP
    with _Logged() as records:
        check_load_from_checkpoint(_cfg(own), Tiny())
    (record, ) = [r for r in records if own in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"load_from {own}: 4 of the model's 4 tensors load from it (100% of its weights)")


def test_what_is_not_checked_and_a_missing_file(tmp_path):
    other = _save(nn.Linear(2, 2), tmp_path / 'other.pth')
    check_load_from_checkpoint(Config(dict(load_from=None)), Tiny())
    check_load_from_checkpoint(_cfg(other, resume=True), Tiny())  # check_resume_checkpoint's
    check_load_from_checkpoint(_cfg('https://x/other.pth'), Tiny())  # mmengine fetches it
    assert _refusal(_cfg(tmp_path / 'gone.pth'), Tiny()) == (
        f'load_from checkpoint not found: {tmp_path}/gone.pth')


def _student_checkpoint(path) -> dict:
    """A checkpoint of the TST demo's student alone (a stock mmpretrain classifier)."""
    student = MODELS.build(Config.fromfile(TST_CONFIG).model.student)
    state = {key: torch.randn_like(value) if value.is_floating_point() else value
             for key, value in student.state_dict().items()}
    torch.save(dict(meta=dict(epoch=1), state_dict=state), path)
    return state


@pytest.mark.usefixtures('mmpretrain_scope')
def test_the_advised_init_cfg_loads_the_student(tmp_path):
    state = _student_checkpoint(tmp_path / 'student.pth')
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.student.init_cfg = dict(type='Pretrained', checkpoint=str(tmp_path / 'student.pth'))
    cfg.teacher_ckpt, cfg.allow_random_teacher = None, True
    model = MODELS.build(cfg)
    model.init_weights()
    for key, value in model.student.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.slow
@pytest.mark.usefixtures('mmpretrain_scope')
def test_train_tool_refuses_load_from_the_student_alone(tmp_path):
    """The TST config with ``load_from`` a stock student checkpoint would train a random
    student (every ``student.*`` key missing); no data needed: refused before training."""
    path = tmp_path / 'student.pth'
    _student_checkpoint(path)
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', TST_CONFIG, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options', f'load_from={path}'], cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='2'), capture_output=True,
        text=True, timeout=300)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f'error: load_from {path} fits almost nothing of the model, which '
                           "would train from random weights: 0 of the model's ")
    assert "missing" in line and "student.backbone.conv1.weight" in line
    assert line.endswith("model.student.init_cfg=dict(type='Pretrained', "
                         f"checkpoint='{path}')")
    assert not osp.exists(tmp_path / 'work' / 'epoch_1.pth')
