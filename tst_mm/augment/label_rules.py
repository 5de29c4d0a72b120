"""The rules of what warped labels become, and who sets them.

A task that has a rule for its warped labels says so through its adapter
(``TaskAdapter.label_rules``); the distiller hands the adapter to the augmenter
(:meth:`LearnableAugmenter.follow_task`), which asks it. Where no task sets a rule (a plain
training config that uses the augmenter as a batch augment, or a rule the task leaves open),
the augmenter's own setting applies, else the default below.
"""
from dataclasses import dataclass
from typing import Any, Dict

__all__ = ['LabelRule', 'LABEL_RULE_DEFAULTS', 'LABEL_RULE_MEANINGS']

#: Each rule, and its value where neither the task nor the augmenter's config sets it.
LABEL_RULE_DEFAULTS: Dict[str, Any] = {
    'min_box_size': 1.0, 'min_box_visible': 0.1, 'seg_ignore_index': 255}
#: What each rule does, for messages ("the augmenter <meaning> <name>=<value>").
LABEL_RULE_MEANINGS: Dict[str, str] = {
    'min_box_size': 'drops warped boxes narrower or lower than',
    'min_box_visible': 'drops warped boxes keeping less of their area than',
    'seg_ignore_index': 'marks pixels from outside the image with',
}


@dataclass(frozen=True)
class LabelRule:
    """A rule a task sets for its warped labels.

    Attributes:
        value: What the rule is (e.g. the ignore index of label-map pixels warped in from
            outside the image).
        reason: Why the task needs this value, for the message that refuses an augmenter
            setting contradicting it (e.g. ``"the student's decode head ignores 255"``).
    """

    value: Any
    reason: str
