"""Launching a TST config from the tools: load and check it, then set up the launcher.

``tools/train.py`` and ``tools/test.py`` load a config with :func:`load_tool_config` (model
paths resolved, scope and TST settings checked) and prepare a distributed launch with
:func:`prepare_launch`; :func:`student_config` turns a TST config into its student's plain
config (export, baselines). What checks a checkpoint against the model before the Runner loads
it is in :mod:`tst_mm.utils.checkpoint_checks`.
"""
from .config import (
    KNOWN_SCOPES,
    check_default_scope,
    check_tst_settings,
    enable_amp,
    load_tool_config,
)
from .distributed import configure_model_wrapper, init_cpu_distributed, prepare_launch
from .student_config import student_config

__all__ = ['KNOWN_SCOPES', 'check_default_scope', 'check_tst_settings', 'enable_amp',
           'load_tool_config', 'configure_model_wrapper', 'init_cpu_distributed',
           'prepare_launch', 'student_config']
