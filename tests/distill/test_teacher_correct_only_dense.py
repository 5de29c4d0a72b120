"""``teacher_correct_only`` for segmentation (pixels) and detection (RoIs), and its refusals."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.distill.task_adapters.detection.capture import OutputCapture
from tst_mm.distill.task_adapters.detection.roi import roi_teacher_correct
from tst_mm.registry import DATASETS, MODELS

SEG_CONFIG = osp.join(ROOT, 'configs/demo/tst_pspnet_scenes.py')
DET_CONFIG = osp.join(ROOT, 'configs/demo/tst_faster-rcnn_scenes.py')
RETINANET_CONFIG = osp.join(ROOT, 'configs/demo/tst_retinanet_scenes.py')


def _scope(name):
    init_default_scope(name)
    DefaultScope.overwrite_default_scope(name).__enter__()


def _model_cfg(path, **overrides):
    cfg = Config.fromfile(path).model
    cfg.teacher = osp.join(ROOT, cfg.teacher)
    cfg.teacher_ckpt = None
    cfg.update(overrides)
    return cfg


def _doubled_batch(path, model, data_root, num=2):
    """``([x; x], samples, num)``: two preprocessed images, the first copy standing for x'."""
    cfg = Config.fromfile(path).train_dataloader.dataset
    cfg.data_root = data_root
    dataset = DATASETS.build(cfg)
    data = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(num)]), True)
    inputs = torch.cat([data['inputs'], data['inputs']])
    samples = copy.deepcopy(list(data['data_samples'])) + list(data['data_samples'])
    return inputs, samples, num


def test_segmentation_kd_leaves_out_the_pixels_the_teacher_gets_wrong(scenes_root):
    _scope('mmseg')
    model = MODELS.build(_model_cfg(SEG_CONFIG, teacher_correct_only=True))
    model.eval()
    inputs, samples, num = _doubled_batch(SEG_CONFIG, model,
                                          osp.join(scenes_root, 'cityscapes') + '/')
    with torch.no_grad():
        student = model.student.decode_head(model.student.extract_feat(inputs))
        teacher = model.teacher.decode_head(model.teacher.extract_feat(inputs))
    # a random teacher is wrong nearly everywhere: label the left half of x' as it predicts
    for sample, logits in zip(samples[:num], teacher[:num]):
        label = sample.gt_sem_seg.data
        predicted = F.interpolate(logits[None], size=label.shape[1:], mode='bilinear',
                                  align_corners=False).argmax(1)
        half = label.shape[-1] // 2
        label[..., :half] = torch.where(label[..., :half] == 255, label[..., :half],
                                        predicted[..., :half])
    losses = model.adapter.distill_losses(model.teacher, inputs, samples,
                                          model.distill_losses, num_augmented=num,
                                          teacher_correct_only=True)

    teacher = F.interpolate(teacher, size=student.shape[2:], mode='bilinear',
                            align_corners=False)
    labels = torch.stack([s.gt_sem_seg.data for s in samples]).float()
    labels = F.interpolate(labels, size=student.shape[2:], mode='nearest')[:, 0].long()
    counted = labels != 255
    wrong = (teacher.argmax(1) != labels) & counted
    wrong[num:] = False  # x is never filtered
    assert 0 < wrong[:num].sum() < counted[:num].sum()  # a random teacher: some right
    keep = counted & ~wrong
    kl = F.kl_div(F.log_softmax(student, 1), F.log_softmax(teacher, 1), log_target=True,
                  reduction='none').sum(1)
    torch.testing.assert_close(losses['distill.loss_decode'].detach(), 1.5 * kl[keep].mean(),
                               rtol=1e-4, atol=1e-6)
    expected_share = wrong[:num].sum() / counted[:num].sum()
    assert float(losses['distill.dropped_aug']) == pytest.approx(float(expected_share))


def test_segmentation_refuses_a_loss_without_a_pixel_mask():
    _scope('mmseg')
    cwd = dict(decode=dict(type='tst_mm.ChannelWiseDivergenceLoss', tau=1.0))
    with pytest.raises(ValueError, match=r"teacher_correct_only .* \['decode'\] do not take"):
        MODELS.build(_model_cfg(SEG_CONFIG, teacher_correct_only=True, distill_losses=cwd))


def test_roi_rule_drops_wrong_rois_of_augmented_images_only():
    capture = OutputCapture(torch.nn.Module(), 'two_stage')
    # RoIs of images 0 and 1 (x', num_augmented=2) and 2 (x); 3 classes + background (3)
    capture.rois = {0: torch.tensor([[0.] + [0.] * 4, [0.] + [0.] * 4, [1.] + [0.] * 4,
                                     [2.] + [0.] * 4, [2.] + [0.] * 4])}  # stage 0
    capture.roi_labels = {0: torch.tensor([1, 3, 2, 0, 1])}
    teacher_cls = torch.tensor([[0., 5., 0., 0.],    # predicts 1, label 1: kept
                                [0., 0., 0., 5.],    # background, label background: kept
                                [5., 0., 0., 0.],    # predicts 0, label 2: dropped
                                [0., 5., 0., 0.],    # wrong, but on x: kept
                                [0., 5., 0., 0.]])
    keep, dropped = roi_teacher_correct([teacher_cls], capture, num_augmented=2)
    assert keep[0].tolist() == [True, True, False, True, True]
    assert float(dropped) == pytest.approx(1 / 3)  # one of the three RoIs of x'


def test_detection_two_stage_filter_runs_on_the_rois_it_classified(scenes_root):
    _scope('mmdet')
    model = MODELS.build(_model_cfg(DET_CONFIG, teacher_correct_only=True))
    model.train()
    inputs, samples, num = _doubled_batch(DET_CONFIG, model, osp.join(scenes_root, 'coco') + '/')
    with model.adapter.capture() as capture:
        model.student.loss(inputs, samples)
    labels = capture.roi_labels[0]
    assert labels.shape[0] == capture.cls_scores[0].shape[0] == capture.rois[0].shape[0]
    num_classes = model.student.roi_head.bbox_head.num_classes
    assert 0 <= int(labels.min()) and int(labels.max()) <= num_classes
    losses = model.adapter.distill_losses(model.teacher, inputs, samples,
                                          model.distill_losses, num_augmented=num,
                                          teacher_correct_only=True)
    assert 0.0 <= float(losses['distill.dropped_aug']) <= 1.0
    assert torch.isfinite(losses['distill.loss_cls'])


def test_detection_dense_heads_refuse_the_filter_at_build():
    _scope('mmdet')
    with pytest.raises(ValueError, match='needs a two-stage'):
        MODELS.build(_model_cfg(RETINANET_CONFIG, teacher_correct_only=True))
