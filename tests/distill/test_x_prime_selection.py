"""Per-sample selection of x' (BestOfK and its scores) and the mixing ops in TSTDistiller."""
import copy
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.structures import BaseDataElement
from tst_testing import ROOT, fashion_runner_cfg

import tst_mm  # noqa: F401
from tst_mm.distill import BestOfK, StudentEntropy, TeacherStudentKL
from tst_mm.distill.selection import build_selection
from tst_mm.distill.task_adapters import DetectionAdapter, SegmentationAdapter
from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')
BEST_OF_2 = dict(type='tst_mm.BestOfK', k=2, score=dict(type='tst_mm.TeacherStudentKL'))
MIXING = dict(type='tst_mm.LearnableAugmenter', num_ops=None, geometric_mode='blend',
              ops=['mixup', 'cutmix', 'contrast'])


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Other test modules may leave mmdet / mmseg as the process-wide default scope."""
    init_default_scope('mmpretrain')
    DefaultScope.overwrite_default_scope('mmpretrain').__enter__()
    yield


class LogitsAreThePixels(torch.nn.Module):
    """A stand-in classifier whose logits are the first pixels of each image."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.head = torch.nn.Identity()

    def extract_feat(self, inputs):
        return inputs.flatten(1)[:, :self.num_classes]


def samples(labels):
    return [BaseDataElement(gt_label=torch.tensor([label])) for label in labels]


class Candidates:
    """An 'augmenter' returning the given batches in turn."""

    def __init__(self, *batches):
        self.batches = list(batches)

    def __call__(self, inputs, data_samples):
        return self.batches.pop(0), data_samples


# ------------------------------------------------------------------------------ scores
def test_teacher_student_kl_is_the_kl_and_teacher_wrong_candidates_rank_lowest():
    teacher = torch.tensor([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    student = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 5.0]])
    labels = torch.tensor([0, 0, 0])  # the teacher is wrong on the third candidate
    score = TeacherStudentKL(tau=2.0)(student, teacher, labels)
    p_t = F.softmax(teacher / 2.0, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(student / 2.0, dim=1))).sum(dim=1)
    torch.testing.assert_close(score[:2], kl[:2])
    assert kl[2] > kl[0]  # the largest disagreement ...
    assert score[2] < 0 <= score[0] < score[1]  # ... ranks last: the teacher is wrong there
    torch.testing.assert_close(score[2], -F.cross_entropy(teacher[2:], labels[2:]))
    plain = TeacherStudentKL(tau=2.0, teacher_wrong_last=False)(student, teacher, labels)
    torch.testing.assert_close(plain, kl)


def test_student_entropy_needs_no_teacher():
    score = StudentEntropy()
    assert not score.needs_teacher and TeacherStudentKL().needs_teacher
    logits = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    p = F.softmax(logits[1], dim=0)
    expected = torch.stack([torch.log(torch.tensor(2.0)), -(p * p.log()).sum()])
    torch.testing.assert_close(score(logits, None, torch.tensor([0, 0])), expected)


# ------------------------------------------------------------------------------ selection
def test_best_of_k_keeps_the_higher_scoring_candidate_of_each_image():
    model = LogitsAreThePixels(num_classes=2)
    # image 0: the first candidate is uncertain (high entropy); image 1: the second one is
    first = torch.tensor([[0.0, 0.0, 7.0, 7.0], [5.0, 0.0, 8.0, 8.0]]).view(2, 1, 2, 2)
    second = torch.tensor([[4.0, 0.0, 1.0, 1.0], [1.0, 1.0, 2.0, 2.0]]).view(2, 1, 2, 2)
    selection = BestOfK(k=2, score=dict(type='tst_mm.StudentEntropy'))
    batch_samples = samples([0, 1])
    images, kept = selection(Candidates(first, second), torch.zeros(2, 1, 2, 2),
                             batch_samples, model, model)
    assert selection.last_choice.tolist() == [0, 1]
    assert torch.equal(images, torch.stack([first[0], second[1]]))
    assert [int(s.gt_label) for s in kept] == [0, 1]
    assert selection.last_scores.shape == (2, 2)


def test_best_of_k_with_the_kl_prefers_a_teacher_right_candidate():
    student = LogitsAreThePixels(num_classes=2)
    teacher = LogitsAreThePixels(num_classes=2)
    teacher.extract_feat = lambda x: x.flatten(1)[:, 2:4]  # the teacher reads other pixels
    # candidate 1 disagrees most but the teacher gets it wrong; candidate 2 is right
    wrong = torch.tensor([[9.0, 0.0, 0.0, 3.0]]).view(1, 1, 2, 2)
    right = torch.tensor([[0.0, 1.0, 2.0, 0.0]]).view(1, 1, 2, 2)
    selection = BestOfK(k=2)
    images, _ = selection(Candidates(wrong, right), torch.zeros(1, 1, 2, 2), samples([0]),
                          student, teacher)
    assert selection.last_choice.tolist() == [1] and torch.equal(images, right)
    assert selection.last_scores[0, 0] < 0 <= selection.last_scores[1, 0]


def test_selection_config_is_checked_and_refused_outside_classification():
    with pytest.raises(ConfigError, match='k must be an integer >= 1'):
        BestOfK(k=0)
    with pytest.raises(ConfigError, match='BestOfK score'):
        BestOfK(score=dict(type='tst_mm.NoSuchScore'))
    for adapter in (DetectionAdapter, SegmentationAdapter):
        with pytest.raises(ConfigError, match=f'classification-only for now; a '
                                              f'{adapter.task} distiller takes none'):
            build_selection(BEST_OF_2, adapter, augmenter=torch.nn.Identity())
    assert build_selection(None, DetectionAdapter, augmenter=None) is None


# ------------------------------------------------------------------------------ distiller
def _distiller(**overrides):
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher = osp.join(ROOT, cfg.teacher)
    cfg.teacher_ckpt = None
    cfg.allow_random_teacher = True  # the mechanics, not the weights, are tested
    for key, value in overrides.items():
        cfg[key] = value
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    assert model.teacher is not None  # built now: a random teacher depends on when
    model.train()
    return model


def _optim(model):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(student=dict(optimizer=dict(type='SGD', lr=0.1)),
                               augmenter=dict(optimizer=dict(type='SGD', lr=1.0)))))(model)


def _batch(num=8):
    """Smooth random 28x28 grey images (a real classifier's input format)."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(num, 1, 7, 7, generator=gen)
    images = (255 * F.interpolate(coarse, size=(28, 28), mode='bilinear')).to(torch.uint8)
    return dict(inputs=list(images),
                data_samples=[DataSample(metainfo=dict(img_shape=(28, 28))).set_gt_label(i % 10)
                              for i in range(num)])


def _step(model, phase='distill'):
    torch.manual_seed(1)
    step = model.distill_step if phase == 'distill' else model.search_step
    return step(_batch(), _optim(model))


def test_best_of_1_computes_what_no_selection_computes():
    plain, best_of_1 = _distiller(), _distiller(x_prime_selection=dict(type='tst_mm.BestOfK',
                                                                       k=1))
    logs = [_step(plain), _step(best_of_1)]
    assert set(logs[0]) == set(logs[1])
    for key in logs[0]:
        assert torch.equal(torch.as_tensor(logs[0][key]), torch.as_tensor(logs[1][key])), key
    # the scoring changed neither model's state (eval-mode forwards, no BN statistics)
    for (name, a), b in zip(plain.state_dict().items(), best_of_1.state_dict().values()):
        assert torch.equal(a, b), name
    assert best_of_1.student.training and not best_of_1.teacher.training


def test_best_of_2_distils_on_the_kept_candidates():
    model = _distiller(x_prime_selection=BEST_OF_2)
    assert isinstance(model.x_prime_selection, BestOfK) and model.x_prime_selection.k == 2
    log_vars = _step(model)
    assert torch.isfinite(torch.as_tensor(log_vars['distill.loss_kd']))
    assert model.x_prime_selection.last_scores.shape == (2, 8)


def test_mixing_ops_train_the_student_on_mixed_targets_and_the_search_reaches_them():
    model = _distiller(augmenter=MIXING)
    assert model.augmenter.num_classes == 10  # from the student's head
    log_vars = _step(model)
    assert torch.isfinite(torch.as_tensor(log_vars['student.loss']))
    # the search (the paper's objective, on gt_label of the image mixed into) moves them
    before = model.augmenter.probability_logits.detach().clone()
    log_vars = _step(model, 'search')
    assert torch.isfinite(torch.as_tensor(log_vars['augment.loss_teacher']))
    moved = model.augmenter.probability_logits.detach() != before
    assert moved[:2].all()  # mixup and cutmix


def test_mixed_targets_reach_the_student_loss():
    model = _distiller(augmenter=dict(MIXING, ops=['mixup'], init_probability_logit=30.0))
    data = model.data_preprocessor(_batch(), True)
    torch.manual_seed(1)
    inputs, data_samples, num = model._augmented_batch(data['inputs'], data['data_samples'])
    assert num == 8 and len(data_samples) == 16
    scores = torch.stack([s.gt_score for s in data_samples])
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(16))
    assert (scores[:8].max(dim=1).values < 1).any()  # x' mixed ...
    assert torch.equal(scores[8:], F.one_hot(torch.arange(8) % 10, 10).float())  # x one-hot
    logits = model.student.head(model.student.extract_feat(inputs))
    loss = model.student.head._get_loss(logits, data_samples)['loss']
    torch.testing.assert_close(loss, -(scores * F.log_softmax(logits, dim=1)).sum(1).mean())


def test_no_selection_and_no_mixing_build_what_they_built():
    model = _distiller()
    assert model.x_prime_selection is None and not model.augmenter.mixes
    data = model.data_preprocessor(_batch(), True)
    _, data_samples, _ = model._augmented_batch(data['inputs'], data['data_samples'])
    assert all('gt_score' not in sample for sample in data_samples)


@pytest.mark.parametrize('scope,config', [('mmdet', 'configs/demo/tst_faster-rcnn_scenes.py'),
                                          ('mmseg', 'configs/demo/tst_pspnet_scenes.py')])
def test_detection_and_segmentation_distillers_refuse_both_in_one_line(scope, config):
    init_default_scope(scope)
    with DefaultScope.overwrite_default_scope(scope):
        cfg = Config.fromfile(osp.join(ROOT, config)).model
        cfg.teacher_ckpt, cfg.allow_random_teacher = None, True
        with pytest.raises(ConfigError, match='x_prime_selection is classification-only') as err:
            MODELS.build(dict(cfg, x_prime_selection=BEST_OF_2))
        assert '\n' not in str(err.value)
        augmenter = dict(cfg.augmenter, ops=['contrast', 'mixup'])
        with pytest.raises(ConfigError, match=r"mixing ops \['mixup'\] are "
                                              'classification-only') as err:
            MODELS.build(dict(cfg, augmenter=augmenter))
        assert '\n' not in str(err.value)


# ------------------------------------------------------------------------------ runner
@pytest.mark.slow
def test_a_runner_trains_with_best_of_2_and_the_mixing_ops(fashion_teacher_ckpt,
                                                           fashion_mnist_root, tmp_path):
    from mmengine.runner import Runner
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', fashion_teacher_ckpt,
                             fashion_mnist_root, tmp_path, 'bestof2_mix')
    cfg.model.x_prime_selection = copy.deepcopy(BEST_OF_2)
    cfg.model.augmenter = dict(type='tst_mm.LearnableAugmenter', num_ops=4,
                               geometric_mode='blend',
                               ops=['contrast', 'brightness', 'rotate', 'mixup', 'cutmix'])
    cfg.train_cfg.update(max_epochs=1, search_epochs=[0], val_interval=1)
    cfg.param_scheduler.student = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
                                        end=1)]
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert isinstance(runner.model.x_prime_selection, BestOfK)
    scalars = glob.glob(osp.join(runner.log_dir, 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        logs = [json.loads(line) for line in f]
    steps = [log for log in logs if 'distill.loss_kd' in log]
    assert len(steps) == 3
    assert all(torch.isfinite(torch.tensor(log['distill.loss_kd'])) for log in steps)
    assert any('accuracy/top1' in log for log in logs)
    policy = runner.model.augmenter.policy()
    assert policy['mixup']['magnitude'] is None and 0 < policy['mixup']['probability'] < 1
