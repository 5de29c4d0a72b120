#!/usr/bin/env python
"""Which stock OpenMMLab models TST trains: run each through TST and write the matrix.

    python tools/compat_matrix.py --scenes data/scenes --fashion-mnist data/fashion-mnist
    python tools/compat_matrix.py ... --only RTMDet-Tiny GFL --out /tmp/part.md

For every model of :data:`ENTRIES` (a stock config of the installed mmdet / mmseg / mmpretrain,
taken through ``mmdet::`` etc.), as a user would try it:

1. shrink it to CPU size with ``--cfg-options``-style keys (:attr:`Entry.shrink`: small
   backbone depth / width, slim heads, the classes of the generated scenes or of
   Fashion-MNIST, ``init_cfg=None``, score threshold 0 so that tests see detections);
2. build ``tst_mm.TSTDistiller`` with the same config as student and teacher. A model TST
   cannot handle is refused here, by a ``ValueError`` / ``TypeError`` of one line: that line
   is the matrix's status;
3. save the teacher (randomly initialised, every weight jittered by N(0, 0.02^2) so that
   heads initialised to zero do not make it constant) to a checkpoint, so that the strict
   teacher loading is real, and run a real mmengine ``Runner``: one search step and three
   distillation steps on two images (the generated scenes at 64 x 64, or Fashion-MNIST),
   then ``runner.test()`` as ``tools/test.py`` does, on two images;
4. time a TST distillation step on B = 2 images (``[x'; x]``: 4 images) against a plain KD
   step on 4 images and a search step on 2 (``benchmarks/step_cost.py``'s steps; median of 3
   interleaved rounds after a warm-up; one CPU thread in the test).

``docs/supported.md`` is this tool's output, and ``tests/tools/test_compat_matrix.py`` runs every
entry and fails when a row of the committed file (timing columns aside) is not what the code
does now.
"""
import argparse
import copy
import importlib.util
import logging
import math
import numbers
import os.path as osp
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner, set_random_seed

import tst_mm  # noqa: F401  (registers the plugin)
from tst_mm.distill.model_config import resolve_model_config
from tst_mm.distill.task_adapters import DetectionAdapter
from tst_mm.errors import ConfigError
from tst_mm.losses.inverted_detection_losses import InvertedLoss
from tst_mm.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC = osp.join(ROOT, 'docs', 'supported.md')

__all__ = ['Entry', 'ENTRIES', 'Result', 'run_entry', 'model_config', 'render', 'parse_rows',
           'COLUMNS', 'TIMING_COLUMNS']


@dataclass(frozen=True)
class Entry:
    """One stock model of the matrix.

    Attributes:
        name: Model name in the matrix.
        task: ``'detection'``, ``'segmentation'`` or ``'classification'``.
        config: The stock config (``mmdet::...`` etc.).
        shrink: ``--cfg-options``-style keys under ``model`` that make it CPU-sized.
        distill_losses: KD losses to train with (default: the task's, :data:`TASKS`).
        refused_kd: KD losses the adapter must refuse at build for this model (tried one by
            one; their refusal lines go to the status).
        with_mask: Detection: the model needs instance masks.
    """

    name: str
    task: str
    config: str
    shrink: Dict[str, object]
    distill_losses: Optional[Dict[str, dict]] = None
    refused_kd: Dict[str, dict] = field(default_factory=dict)
    with_mask: bool = False


# ------------------------------------------------------------------------ the shrunk models
#: ResNet-18 layout at 1/4 width (16-128 channels) under a 32-channel FPN.
RESNET_FPN = {'backbone.depth': 18, 'backbone.base_channels': 16, 'backbone.frozen_stages': -1,
              'backbone.norm_eval': False, 'backbone.init_cfg': None,
              'neck.in_channels': [16, 32, 64, 128], 'neck.out_channels': 32}
DETECTION_CLASSES = 10  # the generated scenes
SEGMENTATION_CLASSES = 11  # background + 10 objects
CLASSIFICATION_CLASSES = 10  # Fashion-MNIST


def _rcnn(stages: int = 1) -> Dict[str, object]:
    """A slim RPN and RoI head (``stages`` bbox heads for a cascade), few RoIs."""
    keys = {'rpn_head.in_channels': 32, 'rpn_head.feat_channels': 32,
            'roi_head.bbox_roi_extractor.out_channels': 32,
            'train_cfg.rpn.sampler.num': 64, 'train_cfg.rpn_proposal.nms_pre': 200,
            'train_cfg.rpn_proposal.max_per_img': 100, 'test_cfg.rpn.nms_pre': 200,
            'test_cfg.rpn.max_per_img': 50, 'test_cfg.rcnn.score_thr': 0.0,
            'test_cfg.rcnn.max_per_img': 10}
    heads = ['roi_head.bbox_head'] if stages == 1 else [
        f'roi_head.bbox_head.{i}' for i in range(stages)]
    samplers = ['train_cfg.rcnn'] if stages == 1 else [f'train_cfg.rcnn.{i}'
                                                       for i in range(stages)]
    for head in heads:
        keys.update({f'{head}.in_channels': 32, f'{head}.fc_out_channels': 64,
                     f'{head}.num_classes': DETECTION_CLASSES})
    for sampler in samplers:
        keys[f'{sampler}.sampler.num'] = 64
    return keys


MASK_HEAD = {'roi_head.mask_roi_extractor.out_channels': 32, 'roi_head.mask_head.in_channels': 32,
             'roi_head.mask_head.conv_out_channels': 32,
             'roi_head.mask_head.num_classes': DETECTION_CLASSES}


def _dense(stacked_convs: int = 2, **extra) -> Dict[str, object]:
    """A slim single-stage head on the 32-channel FPN."""
    return {'bbox_head.in_channels': 32, 'bbox_head.feat_channels': 32,
            'bbox_head.stacked_convs': stacked_convs, 'bbox_head.num_classes': DETECTION_CLASSES,
            'test_cfg.nms_pre': 100, 'test_cfg.score_thr': 0.0, 'test_cfg.max_per_img': 10,
            **extra}


def _csp(widen: float = 0.125) -> Dict[str, object]:
    """CSPDarknet / CSPNeXt at 1/8 width (32-128 output channels), heads of 32 channels."""
    return {'backbone.widen_factor': widen, 'backbone.init_cfg': None,
            'neck.in_channels': [32, 64, 128], 'neck.out_channels': 32,
            'bbox_head.in_channels': 32, 'bbox_head.feat_channels': 32,
            'bbox_head.num_classes': DETECTION_CLASSES, 'test_cfg.score_thr': 0.0}


#: mmseg ResNetV1c-18 at 1/4 width (16-128 channels), 64 x 64 inputs.
RESNET_V1C = {'data_preprocessor.size': (64, 64), 'pretrained': None, 'backbone.depth': 18,
              'backbone.stem_channels': 16, 'backbone.base_channels': 16,
              'backbone.init_cfg': None}


def _seg_heads(decode: Dict[str, object], aux: bool = True) -> Dict[str, object]:
    keys = {f'decode_head.{key}': value for key, value in decode.items()}
    keys['decode_head.num_classes'] = SEGMENTATION_CLASSES
    if aux:  # the FCN auxiliary head on stage 3 (64 channels)
        keys.update({'auxiliary_head.in_channels': 64, 'auxiliary_head.channels': 16,
                     'auxiliary_head.num_classes': SEGMENTATION_CLASSES})
    return keys


#: One grey 28 x 28 channel, Fashion-MNIST's statistics.
GREY = {'data_preprocessor.num_classes': CLASSIFICATION_CLASSES,
        'data_preprocessor.mean': [72.94], 'data_preprocessor.std': [90.02],
        'data_preprocessor.to_rgb': False, 'head.num_classes': CLASSIFICATION_CLASSES}

ENTRIES: List[Entry] = [
    # -------------------------------------------------------------------- detection
    Entry('Faster R-CNN', 'detection', 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
          {**RESNET_FPN, **_rcnn()}),
    Entry('Mask R-CNN', 'detection', 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
          {**RESNET_FPN, **_rcnn(), **MASK_HEAD}, with_mask=True),
    Entry('Cascade R-CNN', 'detection', 'mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py',
          {**RESNET_FPN, **_rcnn(stages=3)}),
    Entry('RetinaNet', 'detection', 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
          {**RESNET_FPN, **_dense()}),
    Entry('FCOS', 'detection', 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
          {**RESNET_FPN, **_dense()}),
    Entry('ATSS', 'detection', 'mmdet::atss/atss_r50_fpn_1x_coco.py', {**RESNET_FPN, **_dense()}),
    Entry('GFL', 'detection', 'mmdet::gfl/gfl_r50_fpn_1x_coco.py', {**RESNET_FPN, **_dense()}),
    Entry('TOOD', 'detection', 'mmdet::tood/tood_r50_fpn_1x_coco.py', {**RESNET_FPN, **_dense()}),
    Entry('YOLOX-S', 'detection', 'mmdet::yolox/yolox_s_8xb8-300e_coco.py',
          {**_csp(), 'data_preprocessor.batch_augments': None}),
    Entry('RTMDet-Tiny', 'detection', 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
          {**_csp(), 'test_cfg.nms_pre': 100, 'test_cfg.max_per_img': 10}),
    Entry('RTMDet-Ins-Tiny', 'detection', 'mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py',
          {**_csp(), 'test_cfg.nms_pre': 100, 'test_cfg.max_per_img': 10}, with_mask=True),
    Entry('DINO', 'detection', 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
          # embed_dims stays 256: mmdet's DINO decoder hard-codes 128 sine features per axis
          {**RESNET_FPN, 'neck.in_channels': [32, 64, 128], 'neck.out_channels': 256,
           'num_queries': 30, 'encoder.num_layers': 1, 'decoder.num_layers': 2,
           'encoder.layer_cfg.ffn_cfg.feedforward_channels': 256,
           'decoder.layer_cfg.ffn_cfg.feedforward_channels': 256,
           'bbox_head.num_classes': DETECTION_CLASSES, 'dn_cfg.group_cfg.num_dn_queries': 10,
           'test_cfg.max_per_img': 10},
          distill_losses=dict(neck_mse=dict(type='tst_mm.FeatureMSELoss', normalize=True)),
          refused_kd=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0))),
    # -------------------------------------------------------------------- segmentation
    Entry('FCN', 'segmentation', 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py',
          {**RESNET_V1C, **_seg_heads({'in_channels': 128, 'channels': 32})}),
    Entry('PSPNet', 'segmentation',
          'mmseg::pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py',
          {**RESNET_V1C, **_seg_heads({'in_channels': 128, 'channels': 32})}),
    Entry('DeepLabV3+', 'segmentation',
          'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py',
          {**RESNET_V1C, **_seg_heads({'in_channels': 128, 'channels': 32,
                                       'c1_in_channels': 16, 'c1_channels': 8})}),
    Entry('UPerNet', 'segmentation', 'mmseg::upernet/upernet_r50_4xb2-40k_cityscapes-512x1024.py',
          {**RESNET_V1C, **_seg_heads({'in_channels': [16, 32, 64, 128], 'channels': 32})}),
    Entry('SegFormer-B0', 'segmentation',
          'mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
          {'data_preprocessor.size': (64, 64), 'backbone.embed_dims': 16,
           'backbone.num_layers': [1, 1, 1, 1], 'backbone.init_cfg': None,
           **_seg_heads({'in_channels': [16, 32, 80, 128], 'channels': 32}, aux=False)}),
    Entry('Mask2Former', 'segmentation',
          'mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py',
          {'data_preprocessor.size': (64, 64), 'backbone.depth': 18, 'backbone.init_cfg': None,
           'decode_head.in_channels': [64, 128, 256, 512],
           'decode_head.num_classes': SEGMENTATION_CLASSES}),
    # -------------------------------------------------------------------- classification
    Entry('ResNet-18', 'classification', 'mmpretrain::resnet/resnet18_8xb32_in1k.py',
          {**GREY, 'backbone.in_channels': 1, 'backbone.base_channels': 16,
           'backbone.stem_channels': 16, 'head.in_channels': 128}),
    Entry('MobileNetV2', 'classification',
          'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
          # no in_channels: the preprocessor's 3-channel mean / std broadcast the grey images
          {**GREY, 'data_preprocessor.mean': [72.94] * 3, 'data_preprocessor.std': [90.02] * 3,
           'backbone.widen_factor': 0.25}),
    Entry('DeiT-Tiny (ViT)', 'classification', 'mmpretrain::deit/deit-tiny_4xb256_in1k.py',
          {**GREY, 'backbone.arch': dict(_delete_=True, embed_dims=32, num_layers=2,
                                         num_heads=2, feedforward_channels=64),
           'backbone.img_size': 28, 'backbone.patch_size': 7, 'backbone.in_channels': 1,
           'head.in_channels': 32}),
]

#: Per task: default scope, KD losses, augmenter, search objective, the metric test reports.
TASKS = {
    'detection': dict(
        scope='mmdet', metric='coco/bbox_mAP',
        distill_losses=dict(cls=dict(type='tst_mm.KDLoss', tau=1.0),
                            neck_mse=dict(type='tst_mm.FeatureMSELoss', normalize=True)),
        augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='compose'),
        weakness_loss=dict(type='tst_mm.InvertedDetectionLosses')),
    'segmentation': dict(
        scope='mmseg', metric='mIoU',
        distill_losses=dict(decode=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=1.5),
                            auxiliary=dict(type='tst_mm.KDLoss', tau=1.0, loss_weight=0.5)),
        augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='compose'),
        weakness_loss=dict(type='tst_mm.StudentWeaknessLoss')),
    'classification': dict(
        scope='mmpretrain', metric='accuracy/top1',
        distill_losses=dict(kd=dict(type='tst_mm.KDLoss', tau=4.0)),
        augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4, geometric_mode='blend'),
        weakness_loss=dict(type='tst_mm.StudentWeaknessLoss')),
}
IMAGE_SIZE = 64  # scenes
NUM_TRAIN, NUM_TEST, TIMING_BATCH = 2, 2, 2


# ------------------------------------------------------------------------ configs
def _scope(task: str) -> str:
    scope = TASKS[task]['scope']
    init_default_scope(scope)
    DefaultScope.overwrite_default_scope(scope).__enter__()
    return scope


_SHRUNK: Dict[str, ConfigDict] = {}


def model_config(entry: Entry) -> ConfigDict:
    """The stock model config of ``entry``, shrunk (a copy of its own)."""
    if entry.name not in _SHRUNK:
        cfg = Config(dict(model=resolve_model_config(entry.config, entry.name)))
        cfg.merge_from_dict({f'model.{key}': value  # merging pops _delete_: a copy
                             for key, value in copy.deepcopy(entry.shrink).items()},
                            allow_list_keys=True)
        _SHRUNK[entry.name] = cfg.model
    return copy.deepcopy(_SHRUNK[entry.name])


def _detection_data(scenes: str, with_mask: bool) -> dict:
    base = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/scenes_coco.py'))
    coco = osp.join(scenes, 'coco') + '/'
    load = dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask)
    resize = dict(type='Resize', scale=(IMAGE_SIZE, IMAGE_SIZE), keep_ratio=True)
    train = copy.deepcopy(base.train_dataloader)
    train.update(batch_size=NUM_TRAIN, batch_sampler=None)
    train.dataset.update(data_root=coco, indices=NUM_TRAIN, serialize_data=False, pipeline=[
        dict(type='LoadImageFromFile'), load, resize, dict(type='PackDetInputs')])
    test = copy.deepcopy(base.test_dataloader)
    test.update(batch_size=NUM_TEST)
    test.dataset.update(data_root=coco, indices=NUM_TEST, serialize_data=False, pipeline=[
        dict(type='LoadImageFromFile'), resize, load,
        dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                              'scale_factor'))])
    evaluator = dict(type='CocoMetric', ann_file=coco + 'annotations/instances_val.json',
                     metric=['bbox', 'segm'] if with_mask else 'bbox')
    return dict(train_dataloader=train, test_dataloader=test, test_evaluator=evaluator)


def _segmentation_data(scenes: str) -> dict:
    base = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/scenes_cityscapes.py'))
    root = osp.join(scenes, 'cityscapes') + '/'
    resize = dict(type='Resize', scale=(IMAGE_SIZE, IMAGE_SIZE), keep_ratio=True)
    train = copy.deepcopy(base.train_dataloader)
    train.update(batch_size=NUM_TRAIN, sampler=dict(type='DefaultSampler', shuffle=True))
    train.dataset.update(data_root=root, indices=NUM_TRAIN, serialize_data=False, pipeline=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), resize,
        dict(type='PackSegInputs')])
    test = copy.deepcopy(base.test_dataloader)
    test.dataset.update(data_root=root, indices=NUM_TEST, serialize_data=False, pipeline=[
        dict(type='LoadImageFromFile'), resize, dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')])
    return dict(train_dataloader=train, test_dataloader=test,
                test_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']))


def _classification_data(fashion_mnist: str) -> dict:
    base = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/fashion-mnist.py'))
    train = copy.deepcopy(base.train_dataloader)
    train.update(batch_size=NUM_TRAIN)
    train.dataset.update(data_root=fashion_mnist, indices=NUM_TRAIN, serialize_data=False)
    test = copy.deepcopy(base.test_dataloader)
    test.update(batch_size=NUM_TEST)
    test.dataset.update(data_root=fashion_mnist, indices=NUM_TEST, serialize_data=False)
    return dict(train_dataloader=train, test_dataloader=test,
                test_evaluator=dict(type='Accuracy', topk=(1, )))


def _data(entry: Entry, scenes: str, fashion_mnist: str) -> dict:
    if entry.task == 'detection':
        return _detection_data(scenes, entry.with_mask)
    if entry.task == 'segmentation':
        return _segmentation_data(scenes)
    return _classification_data(fashion_mnist)


def _distiller_config(entry: Entry, teacher_ckpt: Optional[str],
                      distill_losses: Optional[dict] = None) -> dict:
    task = TASKS[entry.task]
    model = model_config(entry)
    if distill_losses is None:
        distill_losses = copy.deepcopy(entry.distill_losses or task['distill_losses'])
        if entry.task == 'segmentation' and model.get('auxiliary_head') is None:
            distill_losses.pop('auxiliary')
    return dict(type='tst_mm.TSTDistiller', student=model, teacher=copy.deepcopy(model),
                teacher_ckpt=teacher_ckpt, augmenter=copy.deepcopy(task['augmenter']),
                distill_losses=distill_losses,
                weakness_loss=copy.deepcopy(task['weakness_loss']))


# ------------------------------------------------------------------------ one run
@dataclass
class Result:
    """What running one entry showed.

    Attributes:
        entry: The entry.
        refusal: The one-line reason the distiller gave at build, if it refused the model.
        refused_kd: Per refused KD loss name, the line the adapter refused it with.
        distill_keys: Loss keys of the distillation steps, with their values.
        search_keys: Loss keys of the search steps, with their values.
        kd_losses: ``distill.loss_<name>`` -> class of that KD loss.
        inverted: Detection: ``loss class -> its inverted form`` for each inverted loss the
            search step ran; classifiers and segmentors: the student's loss and the weakness
            loss that stands for it on the student's logits.
        metrics: What ``runner.test()`` returned.
        policy_moved: Whether the search step changed the augmenter's parameters.
        seconds: Median seconds per step: ``kd`` (2B images), ``tst`` (``[x'; x]`` of B),
            ``search`` (B).
    """

    entry: Entry
    refusal: Optional[str] = None
    refused_kd: Dict[str, str] = field(default_factory=dict)
    distill_keys: Dict[str, List[float]] = field(default_factory=dict)
    search_keys: Dict[str, List[float]] = field(default_factory=dict)
    kd_losses: Dict[str, str] = field(default_factory=dict)
    inverted: List[str] = field(default_factory=list)
    metrics: Dict[str, float] = field(default_factory=dict)
    policy_moved: bool = False
    seconds: Dict[str, float] = field(default_factory=dict)

    def row(self) -> Dict[str, str]:
        """The entry's row of the matrix."""
        entry = self.entry
        if self.refusal is not None:
            status = f'refused: {self.refusal}'
        else:
            status = 'supported' + ''.join(f'; `{name}` KD refused: {line}'
                                           for name, line in self.refused_kd.items())
        return {
            'model': entry.name, 'task': entry.task,
            'stock config': f'`{entry.config}`', 'status': status,
            'KD losses': ', '.join(f'`{key}` ({cls})' for key, cls in self.kd_losses.items())
            or '—',
            'search: inverted student losses': ', '.join(self.inverted) or '—',
            'TST / KD step': self._ratio('tst'), 'search / KD step': self._ratio('search'),
        }

    def _ratio(self, mode: str) -> str:
        """Seconds of a ``mode`` step over those of the KD step, or a dash if not timed."""
        return f'{self.seconds[mode] / self.seconds["kd"]:.2f}' if self.seconds else '—'


def _refusal(err: Exception) -> str:
    message = str(err).strip()
    if '\n' in message or not message:
        raise RuntimeError(f'a refusal must be one line, got {message!r}') from err
    return message


def _weakness_target(distiller) -> List[str]:
    """Classifiers and segmentors: the student loss the search's weakness loss stands for."""
    head = getattr(distiller.student, 'head', None) or distiller.student.decode_head
    losses = getattr(head, 'loss_module', None) or getattr(head, 'loss_decode', None)
    losses = list(losses) if isinstance(losses, torch.nn.ModuleList) else [losses]
    names = '/'.join(type(loss).__name__ for loss in losses)
    return [f'{names} → {type(distiller.weakness_loss).__name__}']


class _InvertedLossRecorder:
    """While active, record which inverted detection losses run (a global forward hook)."""

    def __init__(self) -> None:
        self.used: List[str] = []
        self._handle = None

    def _on_forward(self, module, args, output) -> None:
        if isinstance(module, InvertedLoss):
            self.used.append(f'{type(module.loss).__name__} → {module.kind}')

    def __enter__(self) -> '_InvertedLossRecorder':
        self._handle = torch.nn.modules.module.register_module_forward_hook(self._on_forward)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


class _LossRecorder(Hook):
    """A hook recording the loss values of distillation and search steps."""

    def __init__(self, result: Result) -> None:
        self.result = result

    @staticmethod
    def _add(store: Dict[str, List[float]], outputs) -> None:
        for key, value in (outputs or {}).items():
            store.setdefault(key, []).append(float(value))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._add(self.result.distill_keys, outputs)

    def after_search_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._add(self.result.search_keys, outputs)


def _load_script(path: str):
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0],
                                                  osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _time_steps(model, optim_wrapper, dataset, rounds: int = 3) -> Dict[str, float]:
    """Median seconds of a KD step on 2B images, a TST step and a search step on B."""
    step_fn = _load_script('benchmarks/step_cost.py').step_fn
    batch_b = pseudo_collate([dataset[i] for i in range(TIMING_BATCH)])
    batch_2b = pseudo_collate([dataset[i] for i in range(2 * TIMING_BATCH)])
    steps = {mode: step_fn(mode, model, optim_wrapper, batch_b, batch_2b)
             for mode in ('kd', 'tst', 'search')}
    times = {mode: [] for mode in steps}
    for round_idx in range(rounds + 1):
        for mode, step in steps.items():
            start = time.perf_counter()
            step()
            if round_idx:  # the first round warms up
                times[mode].append(time.perf_counter() - start)
    model.augment_ratio = 1.0
    return {mode: statistics.median(values) for mode, values in times.items()}


def _save_random_teacher(teacher: torch.nn.Module, path: str) -> None:
    """Initialise the teacher, jitter every weight by N(0, 0.02^2) and save it as a checkpoint.

    ``init_weights`` is needed: some parameters (DINO's level embeddings) stay uninitialised
    until it runs. The jitter keeps heads that it sets to zero (ViT's) from making every
    output equal, which would leave the search step without a gradient.
    """
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        teacher.init_weights()
    finally:
        logger.setLevel(level)
    with torch.no_grad():
        for param in teacher.parameters():
            param.add_(0.02 * torch.randn_like(param))
    torch.save({'state_dict': teacher.state_dict()}, path)


def run_entry(entry: Entry, scenes: str, fashion_mnist: str, work_dir: str,
              timing: bool = True) -> Result:
    """Build, train, test and time one entry (see the module docstring).

    Args:
        entry: The model.
        scenes: Root of ``tools/data/make_scenes.py``'s output (``coco/``, ``cityscapes/``).
        fashion_mnist: Root of ``tools/data/prepare_fashion_mnist.py``'s output.
        work_dir: Where the teacher checkpoint and the run go.
        timing: Also time the steps.

    Raises:
        RuntimeError: If a refusal is not one line.
    """
    result = Result(entry)
    scope = _scope(entry.task)
    set_random_seed(0)
    MODELS.build(model_config(entry))  # a config that does not build is an error, not a refusal
    try:
        distiller = MODELS.build(_distiller_config(entry, teacher_ckpt=None))
    except ConfigError as err:  # a refusal; any other error is a failure of the entry
        result.refusal = _refusal(err)
        return result
    for name, loss in entry.refused_kd.items():
        try:
            MODELS.build(_distiller_config(entry, None, distill_losses={name: loss}))
        except ConfigError as err:
            result.refused_kd[name] = _refusal(err)
        else:
            raise RuntimeError(f'{entry.name}: the KD loss {name!r} was expected to be '
                               'refused at build but was accepted')
    if not isinstance(distiller.adapter, DetectionAdapter):
        result.inverted = _weakness_target(distiller)
    result.kd_losses = {f'distill.loss_{name}': type(loss).__name__
                        for name, loss in distiller.distill_losses.items()}
    teacher_ckpt = osp.join(work_dir, 'teacher.pth')
    _save_random_teacher(distiller.teacher, teacher_ckpt)
    del distiller

    data = _data(entry, scenes, fashion_mnist)
    runner = Runner(
        model=_distiller_config(entry, teacher_ckpt), work_dir=osp.join(work_dir, 'run'),
        **data,
        optim_wrapper=dict(constructor='tst_mm.TSTOptimWrapperConstructor',
                           student=dict(optimizer=dict(type='SGD', lr=0.001, momentum=0.9),
                                        clip_grad=dict(max_norm=10)),
                           augmenter=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))),
        train_cfg=dict(type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=3, search_epochs=[0],
                       search_checkpoint=False, val_begin=4),
        test_cfg=dict(type='TestLoop'),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[_LossRecorder(result)], default_scope=scope,
        randomness=dict(seed=0), log_level='WARNING',
        experiment_name=f'compat_{uuid.uuid4().hex[:8]}')  # a message hub of its own
    policy = {k: v.clone() for k, v in runner.model.augmenter.state_dict().items()}
    with _InvertedLossRecorder() as recorder:
        runner.train()
    if isinstance(runner.model.adapter, DetectionAdapter):
        result.inverted = list(dict.fromkeys(recorder.used))
    result.policy_moved = any(not torch.equal(v, runner.model.augmenter.state_dict()[k])
                              for k, v in policy.items())
    result.metrics = {key: float(value) for key, value in runner.test().items()
                      if isinstance(value, numbers.Real)}
    if timing:
        timing_data = copy.deepcopy(data['train_dataloader'].dataset)
        timing_data.indices = 2 * TIMING_BATCH
        runner.model.train()
        result.seconds = _time_steps(runner.model, runner.optim_wrapper,
                                     DATASETS.build(timing_data))
    return result


# ------------------------------------------------------------------------ the document
COLUMNS = ('model', 'task', 'stock config', 'status', 'KD losses',
           'search: inverted student losses', 'TST / KD step', 'search / KD step')
#: Measured, not derived: left out when the committed matrix is compared with the code.
TIMING_COLUMNS = ('TST / KD step', 'search / KD step')

HEADER = """# Supported models

Which stock OpenMMLab models TST trains, found by running each one. Generated by
`python tools/compat_matrix.py --scenes data/scenes --fashion-mnist data/fashion-mnist`
(do not edit); `tests/tools/test_compat_matrix.py` runs every model again and fails when a row
(timing columns aside) is not what the code does.

Each stock config (installed mmdet 3.3.0 / mmsegmentation 1.2.2 / mmpretrain 1.2.0) is shrunk
to CPU size with `--cfg-options`-style keys (see `ENTRIES` in `tools/compat_matrix.py`: ResNet-18
or CSP layouts at 1/4-1/8 width, slim heads, the classes of the generated scenes or of
Fashion-MNIST, no pretrained weights) and used as both student and teacher (random teacher,
loaded strictly from a checkpoint). A real `Runner` then runs one search step and three
distillation steps on two images (scenes at 64 x 64, or Fashion-MNIST) and `runner.test()`.

- **status**: `supported` (trains: the distillation steps log the KD losses and the search
  step `augment.loss_teacher` and `augment.loss_weakness`), or `refused: ` with the one line
  the distiller raises when it is built, before any training.
- **KD losses**: the `distill.*` losses the run trained with (detection: `cls` compares
  class logits or per-location scores, `neck_*` the FPN features; segmentation: decode and
  auxiliary head logits per pixel; classification: logits).
- **search**: how the search step turns the student's own losses against it (detection:
  each loss class the run's search step called and its inverted form, see
  `tst_mm/losses/inverted_detection_losses.py`; TOOD's first epochs use its
  `initial_loss_cls`;
  segmentation and classification: the student's loss and the bounded inverted
  cross-entropy `StudentWeaknessLoss`, -log(1 - p_y), that replaces it).
- **TST / KD step**: seconds of a TST distillation step on B = 2 images (`[x'; x]`, 4
  images) over those of a plain KD step on 4 images; **search / KD step**: a search step on
  2 images over the same KD step. Medians of 3 interleaved rounds at the shrunk sizes on one
  CPU thread of a shared machine: a rough guide, not a benchmark
  (`benchmarks/step_cost.py` measures the demo pairs properly).
"""


def render(rows: List[Dict[str, str]]) -> str:
    """The markdown matrix of the given rows (in order)."""
    lines = [HEADER, '| ' + ' | '.join(COLUMNS) + ' |',
             '|' + '---|' * len(COLUMNS)]
    for row in rows:
        cells = [row[column] for column in COLUMNS]
        if any('|' in cell or '\n' in cell for cell in cells):
            raise ValueError(f'a cell of {row["model"]} holds "|" or a line break: {cells}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def parse_rows(text: str) -> List[Dict[str, str]]:
    """The rows of a matrix written by :func:`render`."""
    lines = [line for line in text.splitlines() if line.startswith('| ')]
    if not lines or lines[0] != '| ' + ' | '.join(COLUMNS) + ' |':
        raise ValueError('not a compatibility matrix of the current columns')
    return [dict(zip(COLUMNS, line[2:-2].split(' | '))) for line in lines[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scenes', default='data/scenes')
    parser.add_argument('--fashion-mnist', default='data/fashion-mnist')
    parser.add_argument('--out', default=DOC)
    parser.add_argument('--only', nargs='+', help='model names (default: all)')
    args = parser.parse_args()
    names = [entry.name for entry in ENTRIES]
    unknown = set(args.only or []) - set(names)
    if unknown:
        parser.error(f'unknown models {sorted(unknown)}; known: {names}')
    rows = []
    for entry in ENTRIES:
        if args.only and entry.name not in args.only:
            continue
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as work_dir:
            result = run_entry(entry, args.scenes, args.fashion_mnist, work_dir)
        row = result.row()
        rows.append(row)
        print(f'{entry.name}: {row["status"]} ({time.perf_counter() - start:.1f} s)',
              file=sys.stderr)
        bad = [key for values in (result.distill_keys, result.search_keys)
               for key, value in values.items() if not all(map(math.isfinite, value))]
        if bad:
            raise RuntimeError(f'{entry.name}: non-finite {bad}')
    with open(args.out, 'w') as f:
        f.write(render(rows))
    print(f'wrote {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
