"""benchmarks/seg_quality.py and det_quality.py run end to end at toy sizes and write what they
promise."""
import json
import os

import pytest
from mmengine.config import Config
from tst_testing import run_tool


def check_det_student(work_dir) -> None:
    """The detection student is a plain mmdet Faster R-CNN at half the teacher's width."""
    alone = Config.fromfile(work_dir / 'alone_seed0' / 'config.py')
    assert alone.model.type == 'FasterRCNN' and alone.train_cfg.type == 'IterBasedTrainLoop'
    teacher = Config.fromfile(work_dir / 'teacher' / 'config.py')
    assert alone.model.neck.out_channels * 2 == teacher.model.neck.out_channels
    assert alone.model.backbone.base_channels * 2 == teacher.model.backbone.base_channels


def check_seg_student(work_dir) -> None:
    """The segmentation student is a plain mmseg model and loop."""
    config = (work_dir / 'alone_seed0' / 'config.py').read_text()
    assert 'TSTDistiller' not in config and 'TSTIterBasedTrainLoop' not in config
    assert "type='EncoderDecoder'" in config


@pytest.mark.slow
@pytest.mark.parametrize('name, key, check_student', [
    ('seg_quality', 'miou', check_seg_student),
    ('det_quality', 'map', check_det_student),
])
def test_scene_study_writes_tables_and_caches_runs(tmp_path, name, key, check_student):
    work_dir, out = tmp_path / 'runs', tmp_path / 'results'
    args = [f'benchmarks/{name}.py', '--seeds', '0', '--iters', '8', '--teacher-iters', '8',
            # 4 images: the lookahead's two halves need 2 each (PSPNet's 1x1 pooling bin and
            # BN in train mode refuse a single image)
            '--batch-size', '4', '--num-train', '8', '--num-val', '4', '--size', '64',
            '--search-iters', '2', '--online-interval', '4',
            '--data-root', str(tmp_path / 'scenes'), '--work-dir', str(work_dir),
            '--out', str(out)]
    run_tool(*args)
    with open(out / f'{name}.json') as f:
        report = json.load(f)
    summary = report['summary']
    assert set(summary) == {'alone', 'kd', 'kd_random', 'tst', 'tst_online', 'tst_lookahead'}
    for row in summary.values():
        assert row['n'] == 1 and row['seeds'] == [0]
        assert all(0.0 <= value <= 100.0 for value in row[key])
    assert 0.0 <= report[f'teacher_{key}'] <= 100.0
    table = (out / f'{name}.md').read_text()
    assert f'Command: `python benchmarks/{name}.py' in table
    assert 'tools/data/make_scenes.py' in table and 'TST (search phases)' in table
    check_student(work_dir)
    # KD neither augments nor searches; the TST run searched and moved its policy
    kd = Config.fromfile(work_dir / 'kd_seed0' / 'config.py')
    assert kd.model.augment_ratio == 0.0 and not kd.train_cfg.get('search_at')
    with open(work_dir / 'tst_seed0' / 'tst_policy.jsonl') as f:
        records = [json.loads(line)['policy'] for line in f]
    # four search steps at toy size move it by ~1e-5 (float32 resolves ~6e-8 at 0.5)
    moved = max(abs((records[-1][op][key] or 0.0) - (records[0][op][key] or 0.0))
                for op in records[0] for key in ('probability', 'magnitude'))
    assert moved > 1e-6
    # the lookahead searches by finite differences (mmcv's ops have no double backward)
    lookahead = Config.fromfile(work_dir / 'tst_lookahead_seed0' / 'config.py')
    assert lookahead.model.search_objective.estimator == 'finite_difference'
    with open(work_dir / 'tst_lookahead_seed0' / 'tst_policy.jsonl') as f:
        records = [json.loads(line) for line in f]
    assert all('augment.heldout_after' in r['losses'] for r in records[1:]) and records[1:]

    # finished runs are cached: a second invocation trains nothing and reports the same
    result_file = work_dir / 'kd_seed0' / 'result.json'
    stamp = os.stat(result_file).st_mtime_ns
    run_tool(*args)
    assert os.stat(result_file).st_mtime_ns == stamp
    with open(out / f'{name}.json') as f:
        assert json.load(f)['summary'] == summary
    # --name: the same runs tabulated under another name, the first tables untouched
    run_tool(*args, '--methods', 'alone', 'kd', 'tst', '--name', 'other', '--report-only')
    with open(out / 'other.json') as f:
        other = json.load(f)['summary']
    assert set(other) == {'alone', 'kd', 'tst'} and other['tst'] == summary['tst']
    with open(out / f'{name}.json') as f:
        assert json.load(f)['summary'] == summary
