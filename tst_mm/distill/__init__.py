"""The TST algorithm: distiller, teacher loading and per-task adapters."""
from .grad_sync import sync_gradients
from .step_guard import GuardedUpdate, SkipCounter, TrainingDiverged
from .task_adapters import ClassificationAdapter, TaskAdapter, adapter_for
from .teacher_loading import TeacherCheckpointError, freeze, load_teacher_checkpoint
from .tst_distiller import TSTDistiller

__all__ = [
    'TSTDistiller', 'TaskAdapter', 'ClassificationAdapter', 'adapter_for',
    'TeacherCheckpointError', 'freeze', 'load_teacher_checkpoint', 'sync_gradients',
    'GuardedUpdate', 'SkipCounter', 'TrainingDiverged'
]
