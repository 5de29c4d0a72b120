"""Did the search-objective proxy predict the full study? One table from two result files.

For every proxy setting that the patient study also trained in full (the paper's objective
as ``tst``, any other as ``tst_<setting>``), and every seed both have, it pairs what the
proxy measured after one search phase (change of the teacher-right-student-wrong share, of
the teacher's top-1 on x', and of the two candidate proxies where they were scored: the
held-out gain of a virtual distillation step on [x'; x], and the standard deviation of the
teacher's true-class probability on x') with what the full run scored against the untrained
policy of the same seed (``kd_random``), and the correlation of each proxy with that gain.
Reads the JSON files only (the full runs may come from several study files, e.g. the
objectives study and the lookahead study, which share their controls); trains nothing::

    python benchmarks/proxy_vs_study.py \\
        --proxy benchmarks/results/search_proxy.json \\
        --study benchmarks/results/cls_quality_patient_objectives.json \\
                benchmarks/results/cls_quality_patient_lookahead.json
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

import numpy as np

#: The untrained-policy control every full run is paired with.
CONTROL = 'kd_random'
#: Each proxy: its column, the score whose change it is, the scale of the change.
PROXIES = {'trsw_change': ('TRSW change (points)', 'trsw', 100.0),
           'heldout_change': ('held-out gain change (x 1e-3)', 'heldout_gain', 1e3),
           'teacher_std_change': ("std of teacher p_y on x' change", 'teacher_py_std', 1.0)}


def study_method(setting: str) -> str:
    """The patient study's method name for a proxy setting."""
    return 'tst' if setting == 'paper' else f'tst_{setting}'


def merged_study(studies: List[Dict]) -> Dict:
    """The runs of several study files as one study.

    Raises:
        ValueError: If two files give one (method, seed) different top-1 values (they would
            not be the same cached run).
    """
    top1: Dict = {}
    for study in studies:
        for run in study['runs']:
            key = (run['method'], run['seed'])
            if key in top1 and top1[key] != run['top1']:
                raise ValueError(f'{key[0]} seed {key[1]}: top-1 {top1[key]} and '
                                 f'{run["top1"]} in two study files')
            top1[key] = run['top1']
    return dict(runs=[dict(method=method, seed=seed, top1=value)
                      for (method, seed), value in top1.items()])


def pair_up(proxy: Dict, study: Dict) -> List[Dict]:
    """One row per (setting, seed) that both the proxy and the full study (and its control)
    have: the proxy's changes (points) and the full run's gain over the control (top-1)."""
    top1 = {(run['method'], run['seed']): run['top1'] for run in study['runs']}
    rows = []
    for run in proxy['runs']:
        method, seed = study_method(run['method']), run['seed']
        if (method, seed) not in top1 or (CONTROL, seed) not in top1:
            continue
        row = dict(setting=run['method'], seed=seed,
                   teacher_change=100 * (run['after']['teacher_top1'] -
                                         run['before']['teacher_top1']),
                   gain=top1[(method, seed)] - top1[(CONTROL, seed)])
        for key, (_, score, scale) in PROXIES.items():
            if score in run['after'] and score in run['before']:
                row[key] = scale * (run['after'][score] - run['before'][score])
        rows.append(row)
    return sorted(rows, key=lambda row: (row['setting'], row['seed']))


def _ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(float)


def correlation(x: List[float], y: List[float], rank: bool = False) -> Optional[float]:
    """Pearson's (or, with ``rank``, Spearman's) correlation; ``None`` for fewer than 3
    points or a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3:
        return None
    if rank:
        x, y = _ranks(x), _ranks(y)
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def report(rows: List[Dict]) -> List[str]:
    """The markdown table: per setting (means over the paired seeds) and the correlation of
    each proxy with the full runs' gain."""
    settings = sorted({row['setting'] for row in rows},
                      key=lambda s: np.mean([r['trsw_change'] for r in rows
                                             if r['setting'] == s]))
    proxies = [key for key in PROXIES if any(key in row for row in rows)]
    lines = ['| setting | seeds | ' + ' | '.join(f'proxy: {PROXIES[key][0]}' for key in proxies)
             + f' | proxy: teacher on x\' change | full run - {CONTROL} (top-1) | higher |',
             '|---|---|' + '---|' * (len(proxies) + 3)]
    means = {key: [] for key in proxies}
    gains_by_setting = []
    for setting in settings:
        mine = [row for row in rows if row['setting'] == setting]
        gains = [row['gain'] for row in mine]
        gains_by_setting.append(np.mean(gains))
        cells = []
        for key in proxies:
            values = [r[key] for r in mine if key in r]
            means[key].append(np.mean(values) if len(values) == len(mine) else None)
            cells.append('-' if means[key][-1] is None else f'{means[key][-1]:+.2f}')
        lines.append(
            f'| {setting} | {", ".join(str(r["seed"]) for r in mine)} | {" | ".join(cells)} '
            f'| {np.mean([r["teacher_change"] for r in mine]):+.1f} '
            f'| {np.mean(gains):+.2f} ± {np.std(gains, ddof=1) if len(gains) > 1 else 0:.2f} '
            f'| {sum(g > 0 for g in gains)} of {len(gains)} |')

    def fmt(value: Optional[float]) -> str:
        return 'n/a' if value is None else f'{value:+.2f}'

    lines += ['', '| proxy | Pearson over (setting, seed) pairs | pairs | Spearman over '
              'settings\' means | settings |', '|---|---|---|---|---|']
    for key in proxies:
        paired = [r for r in rows if key in r]
        per_run = correlation([r[key] for r in paired], [r['gain'] for r in paired])
        points = [(m, g) for m, g in zip(means[key], gains_by_setting) if m is not None]
        per_setting = correlation(*zip(*points), rank=True) if len(points) > 2 else None
        lines.append(f'| {PROXIES[key][0]} | {fmt(per_run)} | {len(paired)} | '
                     f'{fmt(per_setting)} | {len(points)} |')
    return lines


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--proxy', default='benchmarks/results/search_proxy.json')
    parser.add_argument('--study', nargs='+',
                        default=['benchmarks/results/cls_quality_patient_objectives.json'],
                        help='study result files (their runs are merged)')
    parser.add_argument('--out', default='benchmarks/results/proxy_vs_study.md')
    args = parser.parse_args(argv)
    with open(args.proxy) as f:
        proxy = json.load(f)
    studies = []
    for path in args.study:
        with open(path) as f:
            studies.append(json.load(f))
    rows = pair_up(proxy, merged_study(studies))
    if not rows:
        sys.exit(f'error: no setting of {args.proxy} has a full run and its {CONTROL} '
                 f'control in {", ".join(args.study)}')
    command = ' '.join(['python benchmarks/proxy_vs_study.py',
                        *(sys.argv[1:] if argv is None else argv)])
    lines = ['Did the search-objective proxy predict the patient study? Each row: the '
             'proxy\'s one search phase (from the same seed\'s epoch-10 student) beside the '
             f'full run\'s top-1 minus the untrained policy\'s ({CONTROL}) of that seed.',
             f'Command: `{command}` (from `{osp.basename(args.proxy)}` and '
             + ', '.join(f'`{osp.basename(path)}`' for path in args.study) + ').', '',
             *report(rows)]
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
