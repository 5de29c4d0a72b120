"""The TST algorithm: distiller, teacher loading and per-task adapters."""
from .selection import BestOfK, SelectionScore, StudentEntropy, TeacherStudentKL, XPrimeSelection
from .task_adapters import ClassificationAdapter, TaskAdapter, adapter_for
from .teacher_loading import TeacherCheckpointError, freeze, load_teacher_checkpoint
from .tst_distiller import TSTDistiller
from .update import GuardedUpdate, SkipCounter, TrainingDiverged, sync_gradients

__all__ = [
    'TSTDistiller', 'TaskAdapter', 'ClassificationAdapter', 'adapter_for',
    'TeacherCheckpointError', 'freeze', 'load_teacher_checkpoint', 'sync_gradients',
    'GuardedUpdate', 'SkipCounter', 'TrainingDiverged', 'XPrimeSelection', 'BestOfK',
    'SelectionScore', 'TeacherStudentKL', 'StudentEntropy'
]
