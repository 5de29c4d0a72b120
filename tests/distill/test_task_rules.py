"""Each task rule is a hook or a declaration of its adapter, picked through the registry."""
import pytest
import torch

import tst_mm  # noqa: F401
from tst_mm.augment import LearnableAugmenter
from tst_mm.distill.task_adapters import (
    ClassificationAdapter,
    DetectionAdapter,
    SegmentationAdapter,
)
from tst_mm.errors import ConfigError
from tst_mm.registry import TASK_ADAPTERS


def test_built_in_adapters_are_registered():
    assert list(TASK_ADAPTERS.module_dict)[:3] == [
        'ClassificationAdapter', 'DetectionAdapter', 'SegmentationAdapter']
    assert not any(adapter.matches(torch.nn.Linear(2, 2))
                   for adapter in TASK_ADAPTERS.module_dict.values())


def test_only_detection_compares_teacher_class_names():
    teacher, dataset = ('cat', 'dog', 'cow'), ('cat', 'cow', 'dog')
    with pytest.raises(ConfigError, match=r"3 vs 3 classes; first differences, teacher vs "
                                          r"dataset: 1: 'dog' vs 'cow', 2: 'cow' vs 'dog'\)"):
        DetectionAdapter.check_teacher_classes(teacher, dataset)
    DetectionAdapter.check_teacher_classes(teacher, teacher)
    ClassificationAdapter.check_teacher_classes(teacher, dataset)
    SegmentationAdapter.check_teacher_classes(teacher, dataset)


@pytest.mark.parametrize('adapter', [DetectionAdapter, SegmentationAdapter])
def test_tasks_whose_labels_follow_the_pixels_refuse_blended_geometry(adapter):
    assert adapter.labels_follow_pixels
    blended = LearnableAugmenter(ops=['rotate', 'contrast'], geometric_mode='blend')
    with pytest.raises(ValueError, match=r"geometric ops \['rotate'\]: set "
                                         r"geometric_mode='compose'"):
        adapter.check_augmenter(blended, student=None)  # the one check
    color_only = LearnableAugmenter(ops=['contrast'], geometric_mode='blend')
    adapter.check_augmenter(color_only, student=None)


def test_classification_blends_geometry():
    assert not ClassificationAdapter.labels_follow_pixels
    blended = LearnableAugmenter(ops=['rotate', 'contrast'], geometric_mode='blend')
    ClassificationAdapter.check_augmenter(blended, student=None)



@pytest.mark.parametrize('adapter', [DetectionAdapter, SegmentationAdapter])
def test_dense_tasks_give_a_lookahead_only_its_finite_difference_estimate(adapter):
    from tst_mm.search_objectives import (
        DisagreementObjective,
        PaperSearchObjective,
        StudentLookahead,
    )
    adapter.check_search_objective(PaperSearchObjective())
    adapter.check_search_objective(StudentLookahead(estimator='finite_difference'))
    with pytest.raises(ValueError, match=r"what it needs \(double_backward\); use "
                                         r"estimator='finite_difference'"):
        adapter.check_search_objective(StudentLookahead(estimator='exact'))
    with pytest.raises(ValueError, match=r'DisagreementObjective what it needs '
                                         r'\(clean_teacher_logits, logits\)'):
        adapter.check_search_objective(DisagreementObjective())
    assert not adapter.weighs_x_prime


def test_classification_gives_every_objective_what_it_needs():
    from tst_mm.search_objectives import (
        DisagreementObjective,
        PaperSearchObjective,
        StudentLookahead,
        TeacherGatedObjective,
    )
    for objective in (PaperSearchObjective(), TeacherGatedObjective(), DisagreementObjective(),
                      StudentLookahead(estimator='exact'), StudentLookahead()):
        ClassificationAdapter.check_search_objective(objective)
    assert ClassificationAdapter.weighs_x_prime
