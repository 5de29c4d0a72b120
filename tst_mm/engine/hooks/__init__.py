"""Hooks of tst-mm."""
from .policy_logger_hook import POLICY_HISTORY_FILE, TSTPolicyLoggerHook
from .sample_grid_hook import TSTSampleGridHook

__all__ = ['TSTPolicyLoggerHook', 'TSTSampleGridHook', 'POLICY_HISTORY_FILE']
