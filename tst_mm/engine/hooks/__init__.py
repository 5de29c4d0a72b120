"""Hooks of tst-mm."""
from .diagnostics_hook import TSTDiagnosticsHook
from .policy_logger_hook import POLICY_HISTORY_FILE, TSTPolicyLoggerHook
from .sample_grid_hook import TSTSampleGridHook
from .teacher_eval_hook import TSTTeacherEvalHook

__all__ = [
    'TSTPolicyLoggerHook', 'TSTSampleGridHook', 'TSTTeacherEvalHook', 'TSTDiagnosticsHook',
    'POLICY_HISTORY_FILE'
]
