"""``ConfigError`` lives in ``tst_mm/errors.py``: one class, importable from its old home too."""
import ast
import os.path as osp

import pytest
from tst_testing import ROOT

import tst_mm
import tst_mm.utils
import tst_mm.utils.runner_setup
from tst_mm.errors import ConfigError
from tst_mm.utils.runner_setup import check_default_scope


def test_one_class_under_every_name():
    assert tst_mm.ConfigError is ConfigError
    assert tst_mm.utils.ConfigError is ConfigError
    assert tst_mm.utils.runner_setup.ConfigError is ConfigError  # back-compat
    assert issubclass(ConfigError, ValueError)


def test_errors_raised_by_the_package_are_caught_as_the_new_class():
    with pytest.raises(ConfigError):
        check_default_scope(dict(default_scope='mmagic'))


def test_errors_module_imports_nothing_from_the_package():
    with open(osp.join(ROOT, 'tst_mm', 'errors.py'), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports == []
