"""benchmarks/proxy_vs_study.py: the proxy's changes paired with the full runs' gains."""
import json

import numpy as np
import pytest
from tst_testing import load_script, run_tool_expecting_failure

proxy_vs_study = load_script('benchmarks/proxy_vs_study.py')


def _proxy_run(setting: str, seed: int, trsw: tuple, teacher: tuple) -> dict:
    return dict(method=setting, seed=seed,
                before=dict(trsw=trsw[0], teacher_top1=teacher[0]),
                after=dict(trsw=trsw[1], teacher_top1=teacher[1]))


PROXY = dict(runs=[
    _proxy_run('paper', 0, (0.10, 0.11), (0.70, 0.68)),
    _proxy_run('paper', 1, (0.10, 0.13), (0.70, 0.71)),
    _proxy_run('gated_l3', 0, (0.10, 0.14), (0.70, 0.80)),
    _proxy_run('gated_l3', 1, (0.10, 0.16), (0.70, 0.90)),
    _proxy_run('gated_l3', 2, (0.10, 0.20), (0.70, 0.90)),  # seed 2: no control below
])
STUDY = dict(runs=[
    dict(method='kd_random', seed=0, top1=90.0), dict(method='kd_random', seed=1, top1=91.0),
    dict(method='tst', seed=0, top1=90.5), dict(method='tst', seed=1, top1=90.0),
    dict(method='tst_gated_l3', seed=0, top1=89.0), dict(method='tst_gated_l3', seed=1,
                                                         top1=90.0),
    dict(method='tst_gated_l3', seed=2, top1=95.0),
])


def test_pairs_each_setting_and_seed_with_its_own_seeds_control():
    rows = proxy_vs_study.pair_up(PROXY, STUDY)
    got = [(r['setting'], r['seed'], round(r['trsw_change'], 6), round(r['teacher_change'], 6),
            r['gain']) for r in rows]
    assert got == [('gated_l3', 0, 4.0, 10.0, -1.0), ('gated_l3', 1, 6.0, 20.0, -1.0),
                   ('paper', 0, 1.0, -2.0, 0.5), ('paper', 1, 3.0, 1.0, -1.0)]
    trsw = [1.0, 3.0, 4.0, 6.0]
    gain = [0.5, -1.0, -1.0, -1.0]
    expected = np.corrcoef(trsw, gain)[0, 1]
    assert proxy_vs_study.correlation(trsw, gain) == pytest.approx(expected)
    lines = proxy_vs_study.report(rows)
    assert lines[2].startswith('| paper | 0, 1 | +2.00 | -0.5 | -0.25 ± 1.06 | 1 of 2 |')
    assert lines[3].startswith('| gated_l3 | 0, 1 | +5.00 | +15.0 | -1.00 ± 0.00 | 0 of 2 |')
    # two settings: too few for a rank correlation; four runs: Pearson as computed above
    assert lines[-1] == f'| TRSW change (points) | {expected:+.2f} | 4 | n/a | 2 |'


def test_each_candidate_proxy_gets_its_own_correlation_where_it_was_scored():
    proxy = json.loads(json.dumps(PROXY))
    gains = {('paper', 0): (0.001, 0.003), ('paper', 1): (0.001, 0.0), ('gated_l3', 0):
             (0.001, 0.0005), ('gated_l3', 1): (0.001, 0.0)}
    for run in proxy['runs']:
        if (run['method'], run['seed']) in gains:
            run['before']['heldout_gain'], run['after']['heldout_gain'] = gains[
                (run['method'], run['seed'])]
    rows = proxy_vs_study.pair_up(proxy, STUDY)
    changes = [r['heldout_change'] for r in rows]
    assert changes == pytest.approx([-0.5, -1.0, 2.0, -1.0])  # x 1e-3, in row order
    lines = proxy_vs_study.report(rows)
    expected = np.corrcoef(changes, [r['gain'] for r in rows])[0, 1]
    assert f'| held-out gain change (x 1e-3) | {expected:+.2f} | 4 | n/a | 2 |' in lines
    assert not any('std of teacher' in line for line in lines)  # never scored: no column


def test_rank_correlation_of_a_monotone_relation_is_one():
    assert proxy_vs_study.correlation([1, 2, 3, 10], [0, 1, 5, 6], rank=True) == 1.0
    assert proxy_vs_study.correlation([1, 2], [3, 4]) is None


def test_files_without_a_common_run_are_a_one_line_error(tmp_path):
    proxy, study = tmp_path / 'proxy.json', tmp_path / 'study.json'
    proxy.write_text(json.dumps(PROXY))
    study.write_text(json.dumps(dict(runs=[dict(method='kd', seed=0, top1=90.0)])))
    line = run_tool_expecting_failure('benchmarks/proxy_vs_study.py', '--proxy', str(proxy),
                                      '--study', str(study), '--out', str(tmp_path / 'x.md'))
    assert line.startswith('error: no setting of') and 'kd_random' in line


def test_runs_of_several_study_files_merge_and_a_conflict_is_refused():
    lookahead_study = dict(runs=[dict(method='kd_random', seed=0, top1=90.0),
                                 dict(method='tst_lookahead', seed=0, top1=91.5)])
    merged = proxy_vs_study.merged_study([STUDY, lookahead_study])
    top1 = {(run['method'], run['seed']): run['top1'] for run in merged['runs']}
    assert top1[('tst_lookahead', 0)] == 91.5 and top1[('kd_random', 0)] == 90.0
    assert len(merged['runs']) == len(STUDY['runs']) + 1
    proxy = dict(runs=[_proxy_run('lookahead', 0, (0.10, 0.12), (0.70, 0.69))])
    assert [(r['setting'], r['gain']) for r in proxy_vs_study.pair_up(proxy, merged)] == [
        ('lookahead', 1.5)]
    other_control = dict(runs=[dict(method='kd_random', seed=0, top1=89.0)])
    with pytest.raises(ValueError, match='kd_random seed 0: top-1 90.0 and 89.0'):
        proxy_vs_study.merged_study([STUDY, other_control])
