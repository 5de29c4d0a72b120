"""End to end on the scenes: a teacher trained here, then PSPNet / DeepLabV3 TST through
tools/train.py and tools/test.py, and the exported student loaded strictly by a stock mmseg
model (its predictions the distilled student's) and tested by plain mmseg."""
import glob
import json
import os.path as osp

import pytest
import torch
from tst_testing import ROOT, check_exported_student, run_tool

import tst_mm  # noqa: F401  (allow-lists the globals of runner checkpoints for torch.load)

ARCHS = ('pspnet', 'deeplabv3')


def _data_options(scenes_root):
    root = osp.join(scenes_root, 'cityscapes') + '/'
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]


@pytest.fixture(scope='module')
def teachers(scenes_root, tmp_path_factory) -> dict:
    """Each stock demo segmentor trained briefly (8 iterations) as a teacher."""
    ckpts = {}
    for arch in ARCHS:
        work_dir = str(tmp_path_factory.mktemp(f'{arch}_teacher'))
        run_tool('tools/train.py', osp.join(ROOT, f'configs/demo/{arch}_r18-tiny_scenes.py'),
                 '--work-dir', work_dir, '--cfg-options', *_data_options(scenes_root),
                 'train_cfg.max_iters=8', 'train_cfg.val_interval=8',
                 'default_hooks.checkpoint.interval=8')
        ckpts[arch] = osp.join(work_dir, 'iter_8.pth')
    return ckpts


@pytest.mark.slow
@pytest.mark.parametrize('arch', ARCHS)
def test_tst_demo_trains_tests_exports(arch, teachers, scenes_root, tmp_path):
    config = osp.join(ROOT, f'configs/demo/tst_{arch}_scenes.py')
    work_dir = str(tmp_path / 'tst')
    options = _data_options(scenes_root) + [
        f'model.teacher_ckpt={teachers[arch]}', 'train_cfg.max_iters=6',
        'train_cfg.search_at=[0,3]', 'train_cfg.search_iters=2', 'train_cfg.val_interval=6',
        'default_hooks.checkpoint.interval=6', 'param_scheduler.student.0.end=6']
    run_tool('tools/train.py', config, '--work-dir', work_dir, '--cfg-options', *options)
    checkpoint = osp.join(work_dir, 'iter_6.pth')
    saved = torch.load(checkpoint)
    assert not any(key.startswith('teacher.') for key in saved['state_dict'])
    for at in (0, 3):
        assert osp.exists(osp.join(work_dir, f'search_iter_{at}_pass_1.pth'))
        assert osp.exists(osp.join(work_dir, 'tst_samples', f'after_search_at_iter_{at}.png'))
    with open(osp.join(work_dir, 'tst_policy.jsonl')) as f:
        records = [json.loads(line) for line in f]
    assert [record['search_iter'] for record in records] == [0, 1, 2, 3, 4]

    proc = run_tool('tools/test.py', config, checkpoint, '--work-dir', work_dir,
                    '--cfg-options', *options)
    assert 'mIoU' in proc.stdout + proc.stderr

    exported = str(tmp_path / 'student.pth')
    run_tool('tools/export_student.py', checkpoint, exported, '--config', config,
             '--cfg-options', *options)
    # stock mmseg loads it strictly and predicts what the distilled student predicts
    check_exported_student(work_dir, checkpoint, str(tmp_path / 'student.py'), exported,
                           tmp_path)
    # A process that never imports tst_mm: stock mmengine + mmseg test the student, reading
    # the scenes with mmseg's own BaseSegDataset.
    root = osp.join(scenes_root, 'cityscapes') + '/'
    script = tmp_path / 'plain_test.py'
    script.write_text(
        'import sys\n'
        'from mmengine.config import Config\n'
        'from mmengine.runner import Runner\n'
        f'cfg = Config.fromfile({str(tmp_path / "student.py")!r})\n'
        f'cfg.work_dir = {str(tmp_path / "plain")!r}\n'
        f'cfg.load_from = {exported!r}\n'
        'classes = tuple(f"c{i}" for i in range(11))\n'
        'cfg.test_dataloader.dataset = dict(\n'
        f'    type="BaseSegDataset", data_root={root!r}, metainfo=dict(classes=classes),\n'
        '    img_suffix="_leftImg8bit.png", seg_map_suffix="_gtFine_labelTrainIds.png",\n'
        '    data_prefix=dict(img_path="leftImg8bit/val", seg_map_path="gtFine/val"),\n'
        '    pipeline=cfg.test_pipeline)\n'
        'metrics = Runner.from_cfg(cfg).test()\n'
        "assert not any(name.startswith('tst_mm') for name in sys.modules), 'tst_mm imported'\n"
        "print('PLAIN_MIOU', metrics['mIoU'])\n")
    proc = run_tool(str(script), cwd=str(tmp_path))
    assert 'PLAIN_MIOU' in proc.stdout
    assert glob.glob(str(tmp_path / 'plain' / '*' / '*.log'))
