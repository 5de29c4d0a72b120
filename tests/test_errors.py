"""``ConfigError`` lives in ``tst_mm/errors.py``: one class (and two subclasses), importable from
its old home too; a mistyped setting is refused with "did you mean"."""
import ast
import copy
import inspect
import os.path as osp
import sys

import pytest
from mmengine.config import Config
from tst_testing import ROOT

import tst_mm
import tst_mm.utils
from tst_mm.distill.model_config import resolve_model_paths
from tst_mm.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    UnsupportedModelError,
    check_settings,
    refuses_unknown_settings,
)
from tst_mm.launch import check_default_scope, check_tst_settings
from tst_mm.utils import refusal_line


def test_one_class_under_every_name():
    assert tst_mm.ConfigError is ConfigError
    assert tst_mm.utils.ConfigError is ConfigError
    assert issubclass(ConfigError, ValueError)


def test_errors_raised_by_the_package_are_caught_as_the_new_class():
    with pytest.raises(ConfigError):
        check_default_scope(dict(default_scope='mmagic'))


def test_errors_module_imports_nothing_from_the_package():
    """Only the standard library: every layer can import it without an import circle."""
    with open(osp.join(ROOT, 'tst_mm', 'errors.py'), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names]
    modules += [('.' * node.level) + (node.module or '') for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)]
    assert modules and all(name.split('.')[0] in sys.stdlib_module_names for name in modules), \
        modules


def test_refusal_types_keep_the_builtin_type_they_replaced():
    assert issubclass(UnsupportedModelError, ConfigError)
    assert issubclass(UnsupportedModelError, TypeError)
    assert issubclass(ConfigFileNotFoundError, ConfigError)
    assert issubclass(ConfigFileNotFoundError, FileNotFoundError)
    assert str(ConfigFileNotFoundError('x')) == 'x'


def test_a_mistyped_setting_is_refused_with_the_closest_one():
    @refuses_unknown_settings()
    class Module:
        def __init__(self, augment_ratio: float = 1.0, search_epochs=(), num_ops: int = 4):
            self.augment_ratio = augment_ratio

    assert Module(augment_ratio=0.5).augment_ratio == 0.5
    assert list(inspect.signature(Module).parameters) == [
        'augment_ratio', 'search_epochs', 'num_ops']  # tools that read it see the original
    with pytest.raises(ConfigError, match=r"^tst_mm.Module has no setting 'augment_ratios'; "
                                          r"did you mean 'augment_ratio'\?$"):
        Module(augment_ratios=0.5)
    with pytest.raises(ConfigError, match=r"no settings 'search_epoch'; did you mean "
                                          r"'search_epochs'\?, 'colour' \(it takes: "
                                          r'augment_ratio, search_epochs, num_ops\)$'):
        Module(search_epoch=[1], colour=1)

    @refuses_unknown_settings('train_cfg.anything')
    class TakesAny:
        def __init__(self, a: int = 0, **kwargs):
            self.kwargs = kwargs

    assert TakesAny(b=1).kwargs == {'b': 1}
    assert check_settings('x', {'a': 1}, ('a', 'b')) is None


def test_tst_settings_and_types_are_checked_before_anything_is_built():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'demo', 'tst_fashion-mnist.py'))
    resolve_model_paths(cfg)
    check_tst_settings(cfg)  # the demo as it is
    cases = [
        ('model.augment_ratios', 0.5,
         "model (tst_mm.TSTDistiller) has no setting 'augment_ratios'; did you mean "
         "'augment_ratio'?"),
        ('train_cfg.search_epoch', [1], "train_cfg (tst_mm.TSTEpochBasedTrainLoop) has no "
         "setting 'search_epoch'; did you mean 'search_epochs'?"),
        ('model.augmenter.num_op', 2, "model.augmenter (tst_mm.LearnableAugmenter) has no "
         "setting 'num_op'; did you mean 'num_ops'?"),
        ('model.augmenter.type', 'tst_mm.LearnableAugmentor', "model.augmenter.type: "
         "'tst_mm.LearnableAugmentor' is no tst_mm module; did you mean "
         "'tst_mm.LearnableAugmenter'?"),
        ('custom_hooks', [dict(type='tst_mm.TSTPolicyLogerHook')], "custom_hooks[0].type: "
         "'tst_mm.TSTPolicyLogerHook' is no tst_mm module; did you mean "
         "'tst_mm.TSTPolicyLoggerHook'?"),
        ('model.teacher', 'no_such_teacher.py', 'model.teacher: config file not found: '
         'no_such_teacher.py'),
    ]
    for key, value, message in cases:
        bad = copy.deepcopy(cfg)
        bad.merge_from_dict({key: value})
        with pytest.raises(ConfigError) as info:
            check_tst_settings(bad)
        assert str(info.value).startswith(message), (key, str(info.value))


def test_refusal_line_is_one_line():
    assert refusal_line(ConfigError('a\n  b\n')) == 'error: a b'
    assert refusal_line(ConfigError()) == 'error: ConfigError'
