"""Utilities of tst-mm: checkpoint loading on recent torch and runner set-up helpers."""
from ..errors import CheckpointError, ConfigError
from .checkpoint_file import load_checkpoint_file, unreadable_reason, weights_only_refusal
from .optional_imports import optional_module_missing
from .run_records import last_logged_scalar, logged_records
from .runner_setup import (
    KNOWN_SCOPES,
    LOAD_FROM_MIN_SHARE,
    check_default_scope,
    check_load_from_checkpoint,
    check_resume_checkpoint,
    check_tst_settings,
    configure_model_wrapper,
    enable_amp,
    error_line,
    init_cpu_distributed,
    load_tool_config,
    prepare_launch,
    refusal_line,
    resume_checkpoint_path,
    state_dict_mismatch,
)
from .safe_checkpoint import register_checkpoint_safe_globals, restricted_getattr
from .student_config import student_config
from .unwrap import unwrap_model

__all__ = [
    'CheckpointError', 'ConfigError', 'KNOWN_SCOPES', 'LOAD_FROM_MIN_SHARE',
    'check_default_scope', 'check_load_from_checkpoint', 'check_tst_settings',
    'configure_model_wrapper',
    'enable_amp', 'error_line', 'init_cpu_distributed', 'last_logged_scalar', 'logged_records',
    'load_checkpoint_file', 'optional_module_missing', 'unreadable_reason',
    'weights_only_refusal',
    'register_checkpoint_safe_globals', 'restricted_getattr', 'load_tool_config',
    'prepare_launch', 'refusal_line', 'student_config',
    'check_resume_checkpoint', 'resume_checkpoint_path', 'state_dict_mismatch', 'unwrap_model'
]
