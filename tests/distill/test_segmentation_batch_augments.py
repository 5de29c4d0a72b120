"""A saved TST policy as a fixed batch augment of a plain mmseg config, through
tst_mm.SegDataPreProcessorWithAugments (mmseg's own preprocessor never applies them)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner
from mmseg.models.data_preprocessor import SegDataPreProcessor
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.augment import LearnableAugmenter, SegDataPreProcessorWithAugments
from tst_mm.registry import DATASETS, MODELS

PLAIN_CONFIG = osp.join(ROOT, 'configs/demo/pspnet_r18-tiny_scenes.py')
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
            size=(128, 128))


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Other test modules may leave mmpretrain / mmdet as the process-wide default scope."""
    init_default_scope('mmseg')
    DefaultScope.overwrite_default_scope('mmseg').__enter__()
    yield


@pytest.fixture
def policy_file(tmp_path) -> str:
    """A saved policy: shift every image right or left by 0.45 of its width."""
    augmenter = LearnableAugmenter(ops=['translate_x'], num_ops=None)
    augmenter.load_policy({'translate_x': {'magnitude': 1.0, 'probability': 1.0}})
    path = str(tmp_path / 'policy.json')
    augmenter.save_policy(path)
    return path


def _augment_cfg(policy_file):
    return dict(type='tst_mm.LearnableAugmenter', policy=policy_file, trainable=False,
                geometric_mode='compose')


def _batch(scenes_root, num=4):
    cfg = Config.fromfile(PLAIN_CONFIG).train_dataloader.dataset
    cfg.data_root = osp.join(scenes_root, 'cityscapes') + '/'
    dataset = DATASETS.build(cfg)
    return pseudo_collate([dataset[i] for i in range(num)])


def test_batch_augments_apply_in_training_only(scenes_root, policy_file):
    plain = SegDataPreProcessor(**NORM)
    ours = MODELS.build(dict(type='tst_mm.SegDataPreProcessorWithAugments', **NORM,
                             batch_augments=[_augment_cfg(policy_file)]))
    assert isinstance(ours.augments[0], LearnableAugmenter)
    assert ours.batch_augments is None  # mmseg's forward must not call them again
    torch.testing.assert_close(ours.augments[0].mean.flatten(), plain.mean.flatten())
    batch = _batch(scenes_root)

    expected = plain(copy.deepcopy(batch), True)
    got = ours(copy.deepcopy(batch), True)
    assert got['inputs'].shape == expected['inputs'].shape
    assert not torch.allclose(got['inputs'], expected['inputs'])
    for before, after in zip(expected['data_samples'], got['data_samples']):
        old, new = before.gt_sem_seg.data, after.gt_sem_seg.data
        assert (new == 255).sum() > (old == 255).sum()  # pixels from outside the image
        assert set(new.unique().tolist()) <= set(old.unique().tolist())  # no new ids

    expected = plain(copy.deepcopy(batch), False)
    got = ours(copy.deepcopy(batch), False)
    torch.testing.assert_close(got['inputs'], expected['inputs'])


def test_plain_mmseg_config_trains_with_a_saved_policy(scenes_root, policy_file, tmp_path):
    cfg = Config.fromfile(PLAIN_CONFIG)
    cfg.custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
    cfg.model.data_preprocessor = dict(cfg.model.data_preprocessor,
                                       type='tst_mm.SegDataPreProcessorWithAugments',
                                       batch_augments=[_augment_cfg(policy_file)])
    cfg.work_dir = str(tmp_path)
    root = osp.join(scenes_root, 'cityscapes') + '/'
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=1000)
    runner = Runner.from_cfg(cfg)
    preprocessor = runner.model.data_preprocessor
    assert isinstance(preprocessor, SegDataPreProcessorWithAugments)
    policy = preprocessor.augments[0].policy()
    runner.train()
    assert preprocessor.augments[0].policy() == policy  # fixed: not trained
