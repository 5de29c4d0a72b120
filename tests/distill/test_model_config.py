"""Distiller config entries that used to be dropped or misread: a data_preprocessor given to the
distiller, relative model config paths; and the package's top-level names."""
import os
import os.path as osp

import pytest
from mmengine.config import Config
from tst_testing import ROOT

import tst_mm
from tst_mm.errors import ConfigError
from tst_mm.launch import load_tool_config
from tst_mm.registry import MODELS

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')
TEACHER_CONFIG = osp.join(ROOT, 'configs/demo/resnet18-tiny_fashion-mnist.py')


pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def _model_cfg(**overrides):
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.update(overrides)
    return cfg


def test_distiller_data_preprocessor_reaches_the_student():
    model = MODELS.build(_model_cfg(data_preprocessor=dict(pad_value=7)))
    assert model.student.data_preprocessor.pad_value == 7
    assert model.data_preprocessor is model.student.data_preprocessor
    # what mmengine's Runner passes for the demo config (its top-level data_preprocessor,
    # equal to the student's) is accepted as it is
    top_level = Config.fromfile(TST_CONFIG).data_preprocessor
    model = MODELS.build(_model_cfg(data_preprocessor=top_level))
    assert model.student.data_preprocessor.mean.flatten().tolist() == pytest.approx(top_level.mean)


def test_distiller_data_preprocessor_that_contradicts_the_student_is_refused():
    with pytest.raises(ConfigError, match=r"differs from the student's: mean=\[0.0\] "
                       r"\(distiller\) vs \[72.94\] \(student\)") as info:
        MODELS.build(_model_cfg(data_preprocessor=dict(mean=[0.0])))
    # where each one comes from, and that the top-level key is one of the places to fix
    message = str(info.value)
    assert "the config's top-level `data_preprocessor` key" in message
    assert 'model.student.data_preprocessor' in message and 'both places' in message


def test_a_model_that_cannot_be_distilled_is_refused_before_the_preprocessor():
    """A user who fixed the preprocessor was then refused for the models themselves: the
    refusal of what cannot work at all comes first."""
    teacher_cfg = Config.fromfile(TEACHER_CONFIG)
    teacher = dict(teacher_cfg.model, data_preprocessor=teacher_cfg.data_preprocessor)
    teacher['head'] = dict(teacher['head'], num_classes=7)
    with pytest.raises(ConfigError, match='teacher has 7 classes but student has 10'):
        MODELS.build(_model_cfg(data_preprocessor=dict(mean=[0.0]), teacher=teacher))
    teacher['head']['num_classes'] = 10
    with pytest.raises(ConfigError, match='data_preprocessor differs'):
        MODELS.build(_model_cfg(data_preprocessor=dict(mean=[0.0]), teacher=teacher))
    # and before the teacher's normalisation check, which the contradicting mean would trip
    teacher['data_preprocessor'] = dict(teacher['data_preprocessor'], mean=[0.0])
    with pytest.raises(ConfigError, match='data_preprocessor differs'):
        MODELS.build(_model_cfg(data_preprocessor=dict(mean=[0.0]), teacher=teacher))


def test_relative_model_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    (tmp_path / 'base').mkdir()
    (tmp_path / 'teachers').mkdir()
    (tmp_path / 'teachers' / 'teacher.py').write_text(f"_base_ = ['{TEACHER_CONFIG}']\n")
    (tmp_path / 'base' / 'student.py').write_text(
        f"_base_ = ['{TEACHER_CONFIG}']\nmodel = dict(backbone=dict(base_channels=4))\n")
    # a base config naming the student relative to itself, as its own _base_ would be
    (tmp_path / 'base' / 'tst.py').write_text(
        f"_base_ = ['{TST_CONFIG}']\nmodel = dict(student='student.py')\n")
    config = tmp_path / 'my_tst.py'
    config.write_text("_base_ = ['base/tst.py']\nmodel = dict(teacher='teachers/teacher.py')\n")
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_tool_config(str(config), None, None, 'none')
    assert cfg.model.teacher == str(tmp_path / 'teachers' / 'teacher.py')
    assert cfg.model.student == str(tmp_path / 'base' / 'student.py')
    model = MODELS.build(cfg.model)
    assert model.student.backbone.base_channels == 4
    # a path given on the command line stays relative to the working directory
    (elsewhere / 'cli_teacher.py').write_text(f"_base_ = ['{TEACHER_CONFIG}']\n")
    cfg = load_tool_config(str(config), {'model.teacher': 'cli_teacher.py'}, None, 'none')
    assert cfg.model.teacher == 'cli_teacher.py' and osp.isfile(os.path.join(os.getcwd(),
                                                                            'cli_teacher.py'))


def test_main_classes_from_the_package_top_level():
    from tst_mm import LearnableAugmenter, TSTDistiller
    assert TSTDistiller is tst_mm.distill.TSTDistiller
    assert LearnableAugmenter is tst_mm.augment.LearnableAugmenter
