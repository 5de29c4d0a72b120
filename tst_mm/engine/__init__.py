"""Training machinery of tst-mm: the TST loop, optimizer constructor and hooks."""
from ..distill.update import SearchOptimController
from .checkpoint_guard import TSTCheckpointHook
from .distributed_wrapper import TSTDistributedWrapper
from .hooks import (
    POLICY_HISTORY_FILE,
    TSTDiagnosticsHook,
    TSTPolicyLoggerHook,
    TSTSampleGridHook,
    TSTTeacherEvalHook,
)
from .optim_constructor import TSTOptimWrapperConstructor
from .tst_iter_train_loop import TSTIterBasedTrainLoop
from .tst_train_loop import TSTEpochBasedTrainLoop

__all__ = [
    'TSTEpochBasedTrainLoop', 'TSTIterBasedTrainLoop', 'TSTOptimWrapperConstructor',
    'TSTPolicyLoggerHook', 'TSTSampleGridHook', 'POLICY_HISTORY_FILE', 'TSTDistributedWrapper',
    'TSTTeacherEvalHook', 'TSTDiagnosticsHook', 'SearchOptimController', 'TSTCheckpointHook'
]
