"""Every config of configs/tst runs one distillation step and one search step on CPU, at its
full model size (teacher with random weights: nothing is downloaded) on small real images of
the generated scenes. What docs/full_scale.md and configs/tst/README.md call "builds and runs a
step on CPU": the models, losses, augmenter and optimizers that users launch on GPUs fit
together and move what they should."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT, scenes_batch

import tst_mm  # noqa: F401
from tst_mm.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/tst/*.py')))
#: The scenes demo config whose dataset feeds each task's configs (classification takes the
#: segmentation scenes' photos, each with a class label).
SCENES = {'mmdet': 'configs/demo/tst_{name}_scenes.py',
          'mmseg': 'configs/demo/tst_pspnet_scenes.py',
          'mmpretrain': 'configs/demo/tst_pspnet_scenes.py'}
#: Images per batch, and the detection images' side in pixels: small, as the models are full size.
IMAGES = 1
SIZE = 64


def config_batch(scope: str, name: str, scenes_root: str) -> dict:
    """A batch of the generated scenes as the config's task sees them (detectors without a
    scenes demo of their own, e.g. RTMDet, take Faster R-CNN's boxes)."""
    demo = SCENES[scope].format(name=name)
    if not osp.exists(osp.join(ROOT, demo)):
        demo = SCENES[scope].format(name='faster-rcnn')
    batch = scenes_batch(demo, scenes_root, IMAGES, (SIZE, SIZE))
    if scope == 'mmpretrain':
        from mmpretrain.structures import DataSample
        batch['data_samples'] = [DataSample().set_gt_label(label) for label in range(IMAGES)]
    return batch


def changed(before: dict, module: torch.nn.Module) -> bool:
    """Whether any floating-point tensor of ``module`` differs from the ``before`` copy."""
    return any(not torch.equal(before[key], value)
               for key, value in module.state_dict().items() if value.is_floating_point())


@pytest.mark.slow
@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_full_size_config_runs_a_distillation_and_a_search_step(path, scenes_root):
    cfg = Config.fromfile(path)
    scope = cfg.default_scope
    init_default_scope(scope)
    DefaultScope.overwrite_default_scope(scope).__enter__()
    cfg.model.teacher_ckpt = None
    cfg.model.allow_random_teacher = True
    if scope == 'mmseg':  # the Cityscapes preprocessor pads every image to a 512x1024 crop
        cfg.model.student.data_preprocessor.size = (96, 96)
    student = cfg.model.student  # a model dict, or a config file (the in1k configs)
    if isinstance(student, dict) and 'rcnn' in student.get('train_cfg', {}):
        student.train_cfg.rcnn.sampler.num = 16  # RoIAlign on 512 RoIs is slow on CPU
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=cfg.optim_wrapper.constructor,
        optim_wrapper_cfg={k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}))(
            model)
    batch = config_batch(scope, osp.basename(path).split('_')[0], scenes_root)

    student, teacher, augmenter = (copy.deepcopy(part.state_dict()) for part in (
        model.student, model.teacher, model.augmenter))
    log_vars = model.train_step(copy.deepcopy(batch), optim)
    assert any(key.startswith('distill.loss_') for key in log_vars)
    assert all(torch.isfinite(torch.as_tensor(value)) for value in log_vars.values()), log_vars
    assert changed(student, model.student)
    assert not changed(teacher, model.teacher) and not changed(augmenter, model.augmenter)

    student = copy.deepcopy(model.student.state_dict())
    model.set_phase('search')
    log_vars = model.train_step(copy.deepcopy(batch), optim)
    assert {'augment.loss_teacher', 'augment.loss_weakness'} <= set(log_vars)
    assert all(torch.isfinite(torch.as_tensor(value)) for value in log_vars.values()), log_vars
    assert changed(augmenter, model.augmenter)
    assert not changed(student, model.student) and not changed(teacher, model.teacher)
