"""Search objectives: what the augmenter minimises in TST's search steps.

``model.search_objective=dict(type='tst_mm.<name>', ...)`` picks one; the paper's
(:class:`PaperSearchObjective`) is the default.
"""
from .base import PaperSearchObjective, SearchObjective, check_weight
from .disagreement import DisagreementObjective
from .evidence import ClassLogits, SearchEvidence
from .student_lookahead import StudentLookahead, VirtualStep
from .teacher_gated import TeacherGatedObjective

__all__ = [
    'SearchObjective', 'PaperSearchObjective', 'TeacherGatedObjective', 'DisagreementObjective',
    'StudentLookahead', 'VirtualStep', 'ClassLogits', 'SearchEvidence', 'check_weight'
]
