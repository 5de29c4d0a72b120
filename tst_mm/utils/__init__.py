"""Utilities of tst-mm: checkpoint files and checks, one-line error messages, run records.

Nothing here imports the rest of ``tst_mm`` beyond ``tst_mm.errors``; launching a config from
the tools is :mod:`tst_mm.launch`.
"""
from ..errors import CheckpointError, ConfigError
from .checkpoint_checks import (
    LOAD_FROM_MIN_SHARE,
    check_load_from_checkpoint,
    check_resume_checkpoint,
    resume_checkpoint_path,
    state_dict_mismatch,
)
from .checkpoint_file import load_checkpoint_file, unreadable_reason, weights_only_refusal
from .error_lines import error_line, refusal_line
from .optional_imports import optional_module_missing
from .run_records import last_logged_scalar, logged_records
from .safe_checkpoint import register_checkpoint_safe_globals, restricted_getattr
from .unwrap import unwrap_model

__all__ = [
    'CheckpointError', 'ConfigError', 'LOAD_FROM_MIN_SHARE', 'check_load_from_checkpoint',
    'error_line', 'last_logged_scalar', 'logged_records',
    'load_checkpoint_file', 'optional_module_missing', 'unreadable_reason',
    'weights_only_refusal',
    'register_checkpoint_safe_globals', 'restricted_getattr', 'refusal_line',
    'check_resume_checkpoint', 'resume_checkpoint_path', 'state_dict_mismatch', 'unwrap_model'
]
