"""TST for mmdet detectors: adapter, KD shapes, inverted search losses, bad input.

Real mmdet models (the CPU-sized demo configs) on real generated scenes; no teacher weights are
needed for these unit tests (a randomly initialised or copied teacher is enough).
"""
import copy
import json
import logging
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT, load_script

import tst_mm  # noqa: F401
from tst_mm.distill.task_adapters import DetectionAdapter, adapter_for
from tst_mm.distill.task_adapters.detection.dense_heads import valid_locations
from tst_mm.losses import InvertedDetectionLosses
from tst_mm.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from tst_mm.search_objectives import SearchEvidence

DEMO = {name: osp.join(ROOT, f'configs/demo/{name}_r18-tiny_scenes.py')
        for name in ('faster-rcnn', 'retinanet', 'mask-rcnn')}


@pytest.fixture(autouse=True)
def mmdet_scope():
    """Other test modules may leave mmpretrain / mmseg as the process-wide default scope."""
    init_default_scope('mmdet')
    DefaultScope.overwrite_default_scope('mmdet').__enter__()
    yield


def model_cfg(name):
    return copy.deepcopy(Config.fromfile(DEMO[name]).model)


def distiller_cfg(name, **overrides):
    cfg = ConfigDict(
        type='tst_mm.TSTDistiller', student=model_cfg(name), teacher=model_cfg(name),
        augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='compose'),
        distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0),
                            neck_mse=dict(type='tst_mm.FeatureMSELoss')),
        weakness_loss=dict(type='tst_mm.InvertedDetectionLosses'),
        allow_random_teacher=True)  # random weights: the tests check mechanics
    for key, value in overrides.items():  # replace, not merge (ConfigDict.update merges)
        cfg[key] = value
    return cfg


def build(name, **overrides):
    model = MODELS.build(distiller_cfg(name, **overrides))
    model.init_weights()
    model.train()
    return model


def scene_batch(scenes_root, name='faster-rcnn', num=4, pipeline=None):
    ds = copy.deepcopy(Config.fromfile(DEMO[name]).train_dataloader.dataset)
    ds.data_root = osp.join(scenes_root, 'coco/')
    if pipeline is not None:
        ds.pipeline = pipeline
    dataset = DATASETS.build(ds)
    return pseudo_collate([dataset[i] for i in range(num)])


def optim(model, lr=0.01):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(student=dict(optimizer=dict(type='SGD', lr=lr)),
                               augmenter=dict(optimizer=dict(type='SGD', lr=1.0)))))(model)


def finite(log_vars):
    return all(np.isfinite(float(v)) for v in log_vars.values())


# ---------------------------------------------------------------------------- building
@pytest.mark.parametrize('name', ['faster-rcnn', 'retinanet', 'mask-rcnn'])
def test_adapter_and_scope(name):
    model = build(name)
    assert isinstance(model.adapter, DetectionAdapter)
    assert type(model.student).__module__.startswith('mmdet.')
    assert type(model.teacher).__module__.startswith('mmdet.')


def test_class_count_mismatch():
    cfg = distiller_cfg('faster-rcnn')
    cfg.student.roi_head.bbox_head.num_classes = 7
    with pytest.raises(ValueError, match='teacher has 10 classes but student has 7'):
        MODELS.build(cfg)
    cfg = distiller_cfg('retinanet')
    cfg.teacher.bbox_head.num_classes = 3
    with pytest.raises(ValueError, match='teacher has 3 classes but student has 10'):
        MODELS.build(cfg)


def test_class_name_mismatch():
    student, teacher = MODELS.build(model_cfg('retinanet')), MODELS.build(model_cfg('retinanet'))
    student.dataset_meta = dict(classes=tuple('abcdefghij'))
    teacher.dataset_meta = dict(classes=tuple('abcdefghiz'))
    with pytest.raises(ValueError, match='teacher classes'):
        DetectionAdapter(student).check_compatible(teacher)


def test_teacher_from_another_task():
    teacher = Config.fromfile(osp.join(ROOT, 'configs/demo/resnet18-tiny_fashion-mnist.py'))
    teacher.model['_scope_'] = 'mmpretrain'
    with pytest.raises(ValueError, match='teacher is a classification model but the student '
                                         'is a detection model'):
        MODELS.build(distiller_cfg('faster-rcnn', teacher=teacher.model))


def test_two_stage_teacher_for_a_single_stage_student():
    with pytest.raises(ValueError, match='single-stage detector but the teacher is a '
                                         'two-stage'):
        MODELS.build(distiller_cfg('retinanet', teacher=model_cfg('faster-rcnn')))


def test_dense_heads_of_another_layout():
    cfg = distiller_cfg('retinanet')
    cfg.teacher.bbox_head.anchor_generator.scales_per_octave = 2
    with pytest.raises(ValueError, match='same layout'):
        MODELS.build(cfg)


def test_unsupported_student_loss_is_named():
    cfg = distiller_cfg('faster-rcnn')
    cfg.student.roi_head.bbox_head.loss_bbox = dict(type='GHMR')
    with pytest.raises(TypeError, match=r'roi_head\.bbox_head\.loss_bbox is a GHMR'):
        MODELS.build(cfg)


def test_badly_named_distill_loss_is_refused_at_build():
    with pytest.raises(ValueError, match="'kd'.*compares=.*\"cls\""):
        build('faster-rcnn', distill_losses=dict(kd=dict(type='tst_mm.KDLoss')))
    with pytest.raises(ValueError, match="compares='logits' is not a detection output"):
        build('faster-rcnn', distill_losses=dict(kd=dict(type='tst_mm.KDLoss',
                                                         compares='logits')))


def test_compares_field_says_what_a_kd_loss_compares(scenes_root):
    model = build('retinanet', distill_losses=dict(
        kd=dict(type='tst_mm.KDLoss', tau=1.0, compares='cls'),
        fpn=dict(type='tst_mm.FeatureMSELoss', compares='neck')))
    log_vars = model.train_step(scene_batch(scenes_root, 'retinanet'), optim(model))
    assert {'distill.loss_kd', 'distill.loss_fpn'} <= set(log_vars) and finite(log_vars)


def test_blend_mode_augmenter_is_refused_with_the_fix(scenes_root):
    with pytest.raises(ValueError, match="set geometric_mode='compose'"):
        # refused at build time where the distiller asks the adapter, else at the first step
        model = build('faster-rcnn', augmenter=dict(type='tst_mm.LearnableAugmenter',
                                                    geometric_mode='blend'))
        model.train_step(scene_batch(scenes_root), optim(model))


# ---------------------------------------------------------------------------- distillation
@pytest.mark.parametrize('name', ['faster-rcnn', 'retinanet'])
def test_kd_is_zero_for_an_identical_teacher_and_positive_otherwise(name, scenes_root):
    """Two-stage: zero only if the teacher classifies the student's own RoIs."""
    model = build(name)
    model.teacher.load_state_dict(model.student.state_dict())
    model.student.eval()  # same BN statistics as the (eval-mode) teacher
    data = model.data_preprocessor(scene_batch(scenes_root), True)
    losses = model.adapter.distill_losses(model.teacher, data['inputs'],
                                          data['data_samples'], model.distill_losses)
    assert float(losses['distill.loss_cls']) < 1e-6
    assert float(losses['distill.loss_neck_mse']) < 1e-10
    assert any(key.startswith('student.loss') for key in losses)
    with torch.no_grad():
        for param in model.teacher.parameters():
            param.add_(0.05 * torch.randn_like(param))
    losses = model.adapter.distill_losses(model.teacher, data['inputs'],
                                          data['data_samples'], model.distill_losses)
    assert float(losses['distill.loss_cls']) > 1e-4
    assert losses['distill.loss_cls'].requires_grad


def test_padding_locations_are_left_out_of_dense_kd():
    samples = [ConfigDict(metainfo=dict(img_shape=(64, 64))),
               ConfigDict(metainfo=dict(img_shape=(40, 20)))]
    valid = valid_locations(samples, (8, 8), (64, 64), torch.device('cpu'))  # stride 8
    assert valid[0].all()
    assert valid[1, :5, :3].all() and not valid[1, 5:].any() and not valid[1, :, 3:].any()


@pytest.mark.parametrize('name', ['faster-rcnn', 'retinanet', 'mask-rcnn'])
def test_distill_step_trains_only_the_student(name, scenes_root):
    model = build(name)
    optimizers = optim(model)
    student = copy.deepcopy(model.student.state_dict())
    teacher = copy.deepcopy(model.teacher.state_dict())
    policy = model.augmenter.policy()
    log_vars = model.train_step(scene_batch(scenes_root, name), optimizers)
    assert finite(log_vars)
    assert {'distill.loss_cls', 'distill.loss_neck_mse', 'loss'} <= set(log_vars)
    assert any(not torch.equal(v, model.student.state_dict()[k]) for k, v in student.items())
    assert all(torch.equal(v, model.teacher.state_dict()[k]) for k, v in teacher.items())
    assert model.augmenter.policy() == policy


# ---------------------------------------------------------------------------- search
@pytest.mark.parametrize('name', ['faster-rcnn', 'retinanet', 'mask-rcnn'])
def test_search_step_trains_only_the_augmenter(name, scenes_root):
    model = build(name)
    optimizers = optim(model)
    losses_before = [id(m) for n, m in model.student.named_modules() if n.split('.')[-1]
                     .startswith('loss')]
    student = copy.deepcopy(model.student.state_dict())
    policy = model.augmenter.policy()
    model.set_phase('search')
    log_vars = model.train_step(scene_batch(scenes_root, name), optimizers)
    assert finite(log_vars)
    assert {'augment.loss_teacher', 'augment.loss_weakness'} <= set(log_vars)
    assert all(torch.equal(v, model.student.state_dict()[k]) for k, v in student.items())
    assert model.augmenter.policy() != policy
    # the student's own loss modules are back in place
    assert losses_before == [id(m) for n, m in model.student.named_modules()
                             if n.split('.')[-1].startswith('loss')]


def test_loss_modules_are_restored_after_an_error():
    student = MODELS.build(model_cfg('mask-rcnn'))
    originals = {n: m for n, m in student.named_modules() if n.split('.')[-1].startswith('loss')}
    inverter = InvertedDetectionLosses()
    with pytest.raises(RuntimeError, match='boom'):
        with inverter.swapped(student) as swapped:
            assert set(swapped) == set(originals)
            assert type(student.roi_head.mask_head.loss_mask).__name__ == 'InvertedLoss'
            raise RuntimeError('boom')
    assert originals == {n: m for n, m in student.named_modules()
                         if n.split('.')[-1].startswith('loss')}


@pytest.mark.parametrize('name', ['faster-rcnn', 'retinanet'])
def test_images_left_without_boxes_train(name, scenes_root):
    model = build(name)
    optimizers = optim(model)
    batch = scene_batch(scenes_root, name)
    for sample in batch['data_samples'][:2]:
        sample.gt_instances = sample.gt_instances[torch.zeros(len(sample.gt_instances),
                                                              dtype=torch.bool)]
    for phase in ('search', 'distill'):
        model.set_phase(phase)
        assert finite(model.train_step(batch, optimizers))


def test_images_of_different_sizes_in_one_batch(scenes_root):
    """Each image keeps its own valid region: boxes are clipped to it, not to the canvas."""
    model = build('retinanet')
    batch = scene_batch(scenes_root, 'retinanet', num=2)
    inputs = batch['inputs'][1]
    batch['inputs'][1] = inputs[:, :inputs.shape[1] // 2, :]  # crop the bottom half away
    sample = batch['data_samples'][1]
    h, w = batch['inputs'][1].shape[1:]
    sample.set_metainfo(dict(img_shape=(h, w)))
    sample.gt_instances = sample.gt_instances[sample.gt_instances.bboxes.tensor[:, 3] <= h]
    data = model.data_preprocessor(batch, True)
    assert data['inputs'].shape[-2] > h  # padded
    torch.manual_seed(0)
    model.augmenter.load_policy({'translate_y': {'magnitude': 0.8, 'probability': 1.0}})
    _, samples = model.augmenter(data['inputs'], data['data_samples'])
    boxes = samples[1].gt_instances.bboxes
    boxes = getattr(boxes, 'tensor', boxes)
    assert (boxes[:, 3] <= h).all() and (boxes[:, 2] <= w).all()
    optimizers = optim(model)
    for phase in ('search', 'distill'):
        model.set_phase(phase)
        assert finite(model.train_step(copy.deepcopy(batch), optimizers))


# ---------------------------------------------------------------------------- bad annotations
def test_zero_size_and_outside_annotations(scenes_root, tmp_path):
    """mmdet drops zero-size / outside boxes at load time; boxes that still reach a step
    outside their image are clipped there with one warning naming the image."""
    coco = osp.join(scenes_root, 'coco')
    with open(osp.join(coco, 'annotations/instances_train.json')) as f:
        ann = json.load(f)
    image = ann['images'][0]
    first = [a for a in ann['annotations'] if a['image_id'] == image['id']]
    next_id = max(a['id'] for a in ann['annotations']) + 1
    width = image['width']
    extra = [
        dict(first[0], id=next_id, bbox=[10.0, 10.0, 0.0, 5.0], area=0.0),  # zero size
        dict(first[0], id=next_id + 1, bbox=[width + 5.0, 5.0, 10.0, 10.0]),  # outside
        dict(first[0], id=next_id + 2, bbox=[width - 10.0, 5.0, 30.0, 20.0]),  # partly out
    ]
    ann['annotations'] += extra
    bad_file = tmp_path / 'bad.json'
    bad_file.write_text(json.dumps(ann))

    ds = copy.deepcopy(Config.fromfile(DEMO['faster-rcnn']).train_dataloader.dataset)
    ds.update(data_root=coco + '/', ann_file=str(bad_file))
    ds.pipeline = [
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(128, 128), keep_ratio=True, clip_object_border=False),
        dict(type='PackDetInputs')]
    dataset = DATASETS.build(ds)
    index = [i for i in range(len(dataset))
             if dataset.get_data_info(i)['img_id'] == image['id']][0]
    kept = dataset.get_data_info(index)['instances']
    assert len(kept) == len(first) + 1  # only the partly-outside box is loaded

    model = build('faster-rcnn')
    batch = pseudo_collate([dataset[index], dataset[(index + 1) % len(dataset)]])
    sample = batch['data_samples'][0]
    assert (sample.gt_instances.bboxes.tensor[:, 2] > sample.img_shape[1]).any()
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        optimizers = optim(model)
        for phase in ('distill', 'search', 'distill'):
            model.set_phase(phase)
            assert finite(model.train_step(copy.deepcopy(batch), optimizers))
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if 'outside the' in r.getMessage()]
    assert len(warnings) == 1 and image['file_name'] in warnings[0]
    clipped = model.adapter.clip_boxes(model.data_preprocessor(copy.deepcopy(batch), True)
                                     ['data_samples'])
    boxes = clipped[0].gt_instances.bboxes
    assert (getattr(boxes, 'tensor', boxes)[:, 2] <= sample.img_shape[1]).all()


def test_adapter_for_a_detector():
    assert isinstance(adapter_for(MODELS.build(model_cfg('retinanet'))), DetectionAdapter)


# ---------------------------------------------------------------------------- stock models
def stock(name):
    """A shrunk stock model config of the compatibility matrix (tools/compat_matrix.py)."""
    compat = load_script('tools/compat_matrix.py')
    return compat.model_config(next(e for e in compat.ENTRIES if e.name == name))


def stock_distiller(name, **overrides):
    return build('faster-rcnn', student=stock(name), teacher=stock(name), **overrides)


def test_cascade_rcnn_distils_every_stage(scenes_root):
    """KD compares each stage's logits on that stage's RoIs: zero for an identical teacher,
    positive when only the first or only the last stage of the teacher differs."""
    model = stock_distiller('Cascade R-CNN', distill_losses=dict(
        cls=dict(type='tst_mm.KDLoss', tau=1.0)))
    model.student.eval()
    data = model.data_preprocessor(scene_batch(scenes_root), True)

    def kd(teacher_state) -> float:
        model.teacher.load_state_dict(teacher_state)
        return float(model.adapter.distill_losses(
            model.teacher, data['inputs'], data['data_samples'], model.distill_losses)[
            'distill.loss_cls'])

    assert kd(model.student.state_dict()) < 1e-6
    for stage in (0, 2):
        teacher_state = copy.deepcopy(model.student.state_dict())
        weight = teacher_state[f'roi_head.bbox_head.{stage}.fc_cls.weight']
        weight += torch.randn(weight.shape, generator=torch.Generator().manual_seed(stage))
        assert kd(teacher_state) > 1e-4, stage


def test_detr_class_kd_is_refused_at_build():
    with pytest.raises(ValueError, match='DETR family') as err:
        stock_distiller('DINO')  # the default cls + neck_mse losses
    assert '\n' not in str(err.value)
    model = stock_distiller('DINO', distill_losses=dict(
        neck_mse=dict(type='tst_mm.FeatureMSELoss')))
    assert set(model.distill_losses) == {'neck_mse'}


def test_a_loss_that_needs_labels_is_refused_at_build():
    with pytest.raises(ValueError, match='needs class labels'):
        build('retinanet', distill_losses=dict(cls=dict(type='tst_mm.DKDLoss')))


@pytest.mark.parametrize('name', ['TOOD', 'RTMDet-Ins-Tiny'])
def test_probability_maps_and_in_place_heads(name, scenes_root):
    """TOOD's class maps are probabilities (turned back into logits for KD: zero for an
    identical teacher); RTMDet-Ins rewrites its samples' masks during its loss, which must not
    reach the next model of the step."""
    MessageHub.get_current_instance().update_info('epoch', 0)  # TOOD reads it in its loss
    model = stock_distiller(name)
    model.teacher.load_state_dict(model.student.state_dict())
    model.student.eval()
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]
    data = model.data_preprocessor(scene_batch(scenes_root, pipeline=pipeline), True)
    losses = model.adapter.distill_losses(model.teacher, data['inputs'],
                                          data['data_samples'], model.distill_losses)
    assert float(losses['distill.loss_cls']) < 1e-5
    search = model.search_objective(SearchEvidence(model.adapter.search_evidence(
        model.teacher, data['inputs'], data['data_samples'])))
    assert all(torch.isfinite(value) for value in search.values())
    assert all(type(sample.gt_instances.masks).__name__ == 'BitmapMasks'
               for sample in data['data_samples'])
