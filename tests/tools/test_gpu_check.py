"""tools/gpu_check.py, the one command for a new GPU machine, runs here at a tiny size so that
it cannot rot: the same code builds the full-size configs, steps them and writes its tables."""
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config
from tst_testing import ROOT, load_script, run_tool

gpu_check = load_script('tools/gpu_check.py')


@pytest.mark.parametrize('name, size', [
    ('rtmdet_l_s_coco.py', (640, 640)),  # RandomCrop after RandomResize and CachedMosaic
    ('faster-rcnn_r101_r50_coco.py', (800, 1333)),  # Resize (1333, 800), keep_ratio
    ('pspnet_r101-d8_r18-d8_cityscapes-512x1024.py', (512, 1024)),
    ('resnet34_resnet18_in1k.py', (224, 224)),  # RandomResizedCrop 224, in the student's base
])
def test_input_size_is_the_training_pipelines(name, size):
    assert gpu_check.input_size(Config.fromfile(osp.join(ROOT, 'configs/tst', name))) == size


def test_every_config_has_its_input_size():
    for path in glob.glob(osp.join(ROOT, 'configs/tst/*.py')):
        height, width = gpu_check.input_size(Config.fromfile(path))
        assert 200 <= height <= width, path


def test_tiny_run_steps_two_configs_and_writes_its_tables(tmp_path):
    """A classifier pair and RTMDet (detection, EMA) on CPU: every mode steps, losses and the
    averaged weights stay finite, and the JSON and the table say so."""
    run_tool('tools/gpu_check.py', '--tiny', '--device', 'cpu', '--configs', 'resnet34',
             'rtmdet', '--out-dir', str(tmp_path), timeout=600)
    with open(tmp_path / 'gpu_check.json') as f:
        rows = json.load(f)['rows']
    assert [(osp.basename(row['config']), row['amp']) for row in rows] == [
        ('resnet34_resnet18_in1k.py', False), ('rtmdet_l_s_coco.py', False)]
    for row in rows:
        assert row['finite'] and row['size'] == [64, 64] and row['images'] == 1
        assert set(row['seconds']) == {'search', 'tst', 'kd', 'augment'}
        assert all(seconds > 0 for seconds in row['seconds'].values())
        assert 0 < row['augment_share'] < 1 and row['tst_over_kd'] > 0
        assert {mode: len(values) for mode, values in row['losses'].items()} == {
            'search': 2, 'tst': 2, 'kd': 2}  # warm-up and one timed step
    assert [row['ema_finite'] for row in rows] == [None, True]  # RTMDet's EMAHook
    table = (tmp_path / 'gpu_check.md').read_text().splitlines()
    assert [line.split(' | ')[3] for line in table if line.startswith('| `')] == ['yes', 'yes']
