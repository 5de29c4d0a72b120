"""benchmarks/seg_quality.py runs end to end at toy sizes and writes what it promises."""
import json
import os

import pytest
from tst_testing import run_tool


@pytest.mark.slow
def test_seg_quality_study_writes_tables_and_caches_runs(tmp_path):
    work_dir, out = tmp_path / 'runs', tmp_path / 'results'
    args = ['benchmarks/seg_quality.py', '--seeds', '0', '--iters', '8', '--teacher-iters', '8',
            '--batch-size', '2', '--num-train', '8', '--num-val', '4', '--size', '64',
            '--search-iters', '2', '--online-interval', '4',
            '--data-root', str(tmp_path / 'scenes'), '--work-dir', str(work_dir),
            '--out', str(out)]
    run_tool(*args)
    with open(out / 'seg_quality.json') as f:
        report = json.load(f)
    summary = report['summary']
    assert set(summary) == {'alone', 'kd', 'kd_random', 'tst', 'tst_online'}
    for row in summary.values():
        assert row['n'] == 1 and row['seeds'] == [0]
        assert all(0.0 <= miou <= 100.0 for miou in row['miou'])
    assert 0.0 <= report['teacher_miou'] <= 100.0
    table = (out / 'seg_quality.md').read_text()
    assert 'Command: `python benchmarks/seg_quality.py' in table
    assert 'tools/data/make_scenes.py' in table and 'TST (search phases)' in table
    # the student-alone run is a plain mmseg model and loop; the TST runs searched
    config = (work_dir / 'alone_seed0' / 'config.py').read_text()
    assert 'TSTDistiller' not in config and 'TSTIterBasedTrainLoop' not in config
    assert "type='EncoderDecoder'" in config
    with open(work_dir / 'tst_seed0' / 'tst_policy.jsonl') as f:
        final = json.loads(f.readlines()[-1])['policy']
    assert any(abs(entry['probability'] - 0.5) > 1e-4 for entry in final.values())

    # finished runs are cached: a second invocation trains nothing and reports the same
    result_file = work_dir / 'kd_seed0' / 'result.json'
    stamp = os.stat(result_file).st_mtime_ns
    run_tool(*args)
    assert os.stat(result_file).st_mtime_ns == stamp
    with open(out / 'seg_quality.json') as f:
        assert json.load(f)['summary'] == summary
