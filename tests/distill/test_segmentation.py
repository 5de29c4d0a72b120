"""TSTDistiller on real mmseg segmentors (random weights) and the generated scenes: the
segmentation adapter's KD, search objective, checks and bad input."""
import copy
import glob
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from PIL import Image
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.distill import adapter_for
from tst_mm.distill.task_adapters import SegmentationAdapter
from tst_mm.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from tst_mm.search_objectives import SearchEvidence

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_pspnet_scenes.py')


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Other test modules may leave mmpretrain / mmdet as the process-wide default scope."""
    init_default_scope('mmseg')
    DefaultScope.overwrite_default_scope('mmseg').__enter__()
    yield


def _model_cfg(**overrides) -> ConfigDict:
    """The PSPNet demo pair: 1/8-width student, 1/4-width teacher (random weights)."""
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher = osp.join(ROOT, cfg.teacher)
    cfg.teacher_ckpt = None
    cfg.allow_random_teacher = True
    for key, value in overrides.items():  # replace, not merge
        cfg[key] = value
    return cfg


def _teacher_dict(**changes) -> ConfigDict:
    teacher = Config.fromfile(osp.join(ROOT, 'configs/demo/pspnet_r18-tiny_scenes.py')).model
    for key, value in changes.items():
        target = teacher
        *path, last = key.split('.')
        for part in path:
            target = target[part]
        target[last] = value
    return teacher


def _stride16_teacher() -> ConfigDict:
    """The demo teacher at output stride 16: its logits are half the student's size."""
    return _teacher_dict(**{'backbone.strides': (1, 2, 2, 1), 'backbone.dilations': (1, 1, 1, 2)})


def _batch(scenes_root, num=4, pipeline=None):
    cfg = Config.fromfile(TST_CONFIG).train_dataloader.dataset
    cfg.data_root = osp.join(scenes_root, 'cityscapes') + '/'
    if pipeline is not None:
        cfg.pipeline = pipeline
    dataset = DATASETS.build(cfg)
    return pseudo_collate([dataset[i] for i in range(num)])


def _optim(model):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            student=dict(optimizer=dict(type='SGD', lr=0.1)),
            augmenter=dict(optimizer=dict(type='SGD', lr=1.0)))))
    return constructor(model)


def _preprocessed(model, batch):
    return model.data_preprocessor(copy.deepcopy(batch), True)


def test_adapter_and_scope():
    model = MODELS.build(_model_cfg())
    assert isinstance(model.adapter, SegmentationAdapter)
    assert isinstance(adapter_for(model.teacher), SegmentationAdapter)
    assert type(model.student).__module__.startswith('mmseg.')
    assert type(model.teacher).__module__.startswith('mmseg.')
    assert type(model.augmenter).__module__.startswith('tst_mm.')


def test_distill_step_trains_only_the_student(scenes_root):
    model = MODELS.build(_model_cfg())
    model.train()
    optim = _optim(model)
    before = copy.deepcopy(model.state_dict())
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    log_vars = model.train_step(_batch(scenes_root), optim)
    assert {'loss', 'student.decode.loss_ce', 'student.aux.loss_ce', 'student.decode.acc_seg',
            'distill.loss_decode', 'distill.loss_auxiliary'} <= set(log_vars)
    assert all(np.isfinite(float(value)) for value in log_vars.values())
    after = model.state_dict()
    key = 'student.decode_head.conv_seg.weight'
    assert not torch.equal(before[key], after[key])
    assert torch.equal(before['augmenter.probability_logits'],
                       after['augmenter.probability_logits'])
    for name, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[name]), name


def test_augmented_half_carries_warped_label_maps(scenes_root):
    """x' of [x'; x] comes with its label maps moved by the same affine (compose mode)."""
    augmenter = dict(type='tst_mm.LearnableAugmenter', ops=['translate_x'], num_ops=None,
                     geometric_mode='compose',
                     policy={'translate_x': {'magnitude': 1.0, 'probability': 1.0}})
    model = MODELS.build(_model_cfg(augmenter=augmenter))
    data = _preprocessed(model, _batch(scenes_root))
    inputs, samples, _ = model._augmented_batch(data['inputs'], data['data_samples'])
    num = data['inputs'].shape[0]
    assert inputs.shape[0] == len(samples) == 2 * num
    for warped, original in zip(samples[:num], samples[num:]):
        new, old = warped.gt_sem_seg.data, original.gt_sem_seg.data
        assert (new == 255).sum() > (old == 255).sum()  # pixels from outside the image
        assert set(new.unique().tolist()) <= set(old.unique().tolist())
    for original, given in zip(samples[num:], data['data_samples']):
        assert torch.equal(original.gt_sem_seg.data, given.gt_sem_seg.data)


def test_kd_resizes_teacher_to_student_and_skips_ignored_pixels(scenes_root):
    model = MODELS.build(_model_cfg(teacher=_stride16_teacher()))
    model.eval()  # no dropout: the same logits on every call
    data = _preprocessed(model, _batch(scenes_root))
    inputs, samples = data['inputs'], data['data_samples']
    # ignore the left half of every label map (and the padding is 255 already)
    for sample in samples:
        sample.gt_sem_seg.data[..., :inputs.shape[-1] // 2] = 255
    losses = model.adapter.distill_losses(model.teacher, inputs, samples,
                                          model.distill_losses)

    with torch.no_grad():
        student = model.student.decode_head(model.student.extract_feat(inputs))
        teacher = model.teacher.decode_head(model.teacher.extract_feat(inputs))
    assert teacher.shape[-1] * 2 == student.shape[-1]  # output stride 16 vs 8
    teacher = F.interpolate(teacher, size=student.shape[2:], mode='bilinear',
                            align_corners=False)
    labels = torch.stack([s.gt_sem_seg.data for s in samples]).float()
    valid = F.interpolate(labels, size=student.shape[2:], mode='nearest')[:, 0] != 255
    assert 0 < valid.sum() < valid.numel()
    kl = F.kl_div(F.log_softmax(student, 1), F.log_softmax(teacher, 1), log_target=True,
                  reduction='none').sum(1)
    expected = 1.5 * kl[valid].mean()
    torch.testing.assert_close(losses['distill.loss_decode'].detach(), expected,
                               rtol=1e-4, atol=1e-6)


def test_all_ignored_pixels_give_zero_kd_and_zero_weakness(scenes_root):
    model = MODELS.build(_model_cfg())
    data = _preprocessed(model, _batch(scenes_root))
    for sample in data['data_samples']:
        sample.gt_sem_seg.data[...] = 255
    losses = model.adapter.distill_losses(model.teacher, data['inputs'],
                                          data['data_samples'], model.distill_losses)
    assert float(losses['distill.loss_decode']) == 0.0
    assert float(losses['distill.loss_auxiliary']) == 0.0
    search = model.search_objective(SearchEvidence(model.adapter.search_evidence(
        model.teacher, data['inputs'], data['data_samples'])))
    assert float(search['augment.loss_weakness']) == 0.0


def test_cwd_is_a_config_alternative_and_works_across_resolutions(scenes_root):
    cwd = dict(decode=dict(type='tst_mm.ChannelWiseDivergenceLoss', tau=1.0, loss_weight=3.0))
    model = MODELS.build(_model_cfg(teacher=_stride16_teacher(), distill_losses=cwd))
    model.train()
    log_vars = model.train_step(_batch(scenes_root), _optim(model))
    assert float(log_vars['distill.loss_decode']) > 0
    assert 'distill.loss_auxiliary' not in log_vars


def test_search_step_trains_only_the_augmenter(scenes_root):
    model = MODELS.build(_model_cfg())
    model.train()
    optim = _optim(model)
    student_before = copy.deepcopy(model.student.state_dict())
    policy_before = model.augmenter.policy()
    model.set_phase('search')
    log_vars = model.train_step(_batch(scenes_root), optim)
    assert {'augment.loss_teacher', 'augment.loss_weakness'} <= set(log_vars)
    assert float(log_vars['augment.loss_teacher']) > 0
    for key, value in model.student.state_dict().items():
        assert torch.equal(value, student_before[key]), key
    assert all(p.grad is None or not p.grad.any() for p in model.student.parameters())
    assert model.student.training
    policy_after = model.augmenter.policy()
    assert any(policy_after[op]['probability'] != policy_before[op]['probability']
               for op in policy_before)


def test_odd_image_size_trains_without_shape_errors(scenes_root):
    """97x101 crops (not multiples of the output strides 8 and 16), as a config with
    crop_size=(97, 101) makes them (mmseg pads the batch to data_preprocessor.size)."""
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='Resize', scale=(160, 160)),
                dict(type='RandomCrop', crop_size=(97, 101)), dict(type='PackSegInputs')]
    cfg = _model_cfg(teacher=_stride16_teacher())
    cfg.student.data_preprocessor.size = (97, 101)
    model = MODELS.build(cfg)
    model.train()
    optim = _optim(model)
    batch = _batch(scenes_root, pipeline=pipeline)
    assert model.data_preprocessor(copy.deepcopy(batch), True)['inputs'].shape[2:] == (97, 101)
    for phase in ('distill', 'search'):
        model.set_phase(phase)
        log_vars = model.train_step(copy.deepcopy(batch), optim)
        assert all(np.isfinite(float(value)) for value in log_vars.values()), log_vars


def test_class_count_mismatch():
    teacher = _teacher_dict(**{'decode_head.num_classes': 7, 'auxiliary_head.num_classes': 7})
    with pytest.raises(ValueError, match='teacher has 7 classes but student has 11'):
        MODELS.build(_model_cfg(teacher=teacher))


def test_loss_that_fails_on_ignored_pixels_is_refused_at_build():
    """mmseg 1.2.2's CrossEntropyLoss(class_weight=...) raises IndexError on label 255."""
    teacher = _teacher_dict(**{'decode_head.loss_decode.class_weight': [0.1] + [1.0] * 10})
    with pytest.raises(ValueError, match="teacher's PSPHead loss CrossEntropyLoss fails on "
                                         'pixels labelled ignore_index=255'):
        MODELS.build(_model_cfg(teacher=teacher))


def test_blend_mode_augmenter_is_refused():
    augmenter = dict(type='tst_mm.LearnableAugmenter', geometric_mode='blend')
    with pytest.raises(ValueError, match="geometric_mode='compose'"):
        MODELS.build(_model_cfg(augmenter=augmenter))


def test_augmenter_ignore_index_must_match_the_head():
    augmenter = dict(type='tst_mm.LearnableAugmenter', geometric_mode='compose',
                     seg_ignore_index=0)
    with pytest.raises(ValueError, match='seg_ignore_index=255'):
        MODELS.build(_model_cfg(augmenter=augmenter))


def test_unknown_kd_head_name_is_refused_at_build():
    with pytest.raises(ValueError, match="'logits'.*'decode', 'auxiliary'"):
        MODELS.build(_model_cfg(distill_losses=dict(logits=dict(type='tst_mm.KDLoss'))))
    with pytest.raises(ValueError, match="compares='neck' is not a segmentation output"):
        MODELS.build(_model_cfg(distill_losses=dict(
            kd=dict(type='tst_mm.KDLoss', compares='neck'))))


def test_compares_field_names_the_head(scenes_root):
    """A KD loss under a name of one's own says which head it compares with ``compares``."""
    model = MODELS.build(_model_cfg(distill_losses=dict(
        kl=dict(type='tst_mm.KDLoss', compares='decode'),
        decode_cwd=dict(type='tst_mm.ChannelWiseDivergenceLoss'))))
    model.train()
    log_vars = model.train_step(_batch(scenes_root), _optim(model))
    assert {'distill.loss_kl', 'distill.loss_decode_cwd'} <= set(log_vars)
    assert model.adapter.compares('kl') == model.adapter.compares('decode_cwd') == 'decode'


def test_auxiliary_kd_needs_auxiliary_heads_on_both_sides(scenes_root):
    cfg = _model_cfg()
    cfg.student.auxiliary_head = None
    model = MODELS.build(cfg)
    model.train()
    with pytest.raises(ValueError, match='the student has 0 and the teacher 1'):
        model.train_step(_batch(scenes_root), _optim(model))


def test_label_ids_out_of_range_through_the_distiller_pipeline(scenes_root, tmp_path):
    root = tmp_path / 'cityscapes'
    shutil.copytree(osp.join(scenes_root, 'cityscapes'), root)
    for path in glob.glob(str(root / 'gtFine' / 'train' / '*' / '*_labelTrainIds.png')):
        labels = np.array(Image.open(path))
        labels[0, 0] = 42
        Image.fromarray(labels).save(path)
    cfg = Config.fromfile(TST_CONFIG)
    cfg.model.teacher = copy.deepcopy(cfg.model.student)
    cfg.model.teacher_ckpt = None
    cfg.model.allow_random_teacher = True
    cfg.work_dir = str(tmp_path / 'work')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(root) + '/'
    cfg.custom_hooks = []
    with pytest.raises(ValueError, match=r'_gtFine_labelTrainIds\.png: label ids \[42\]'):
        Runner.from_cfg(cfg).train()


def test_search_totals_average_unreduced_terms_as_training_does():
    """A ``reduction='none'`` loss counts as its mean, as in mmengine's parse_losses."""
    import torch
    from mmengine.model import BaseModel

    from tst_mm.distill.task_adapters import total_task_loss

    class Model(BaseModel):

        def forward(self, *args, **kwargs):
            pass

    losses = {'decode.loss_ce': torch.full((2, 4, 4), 3.0), 'aux.loss_ce': torch.tensor(1.0),
              'decode.acc_seg': torch.tensor(50.0)}
    expected, _ = Model().parse_losses(dict(losses))
    assert total_task_loss(losses, 'segmentor').item() == pytest.approx(expected.item()) == 4.0
    det_losses = {'loss_cls': [torch.full((3, ), 2.0), torch.tensor(1.0)],
                  'loss_bbox': torch.full((5, ), 0.5)}
    expected, _ = Model().parse_losses(dict(det_losses))
    assert total_task_loss(det_losses, 'detector').item() == pytest.approx(expected.item()) == 3.5
