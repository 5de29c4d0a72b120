"""Which search objective makes x' teach? A fast proxy: one search phase from fixed students.

    python benchmarks/search_proxy.py [--seeds 0 1 2] [--settings paper gated ...] [--jobs 2]

The patient study (``benchmarks/cls_quality.py --preset patient``) needs 1,200-2,100 s per run
and five seeds per method to resolve half a point; this ranks search objectives in minutes.
For each seed, the study's KD + untrained-policy run (``kd_random``) is trained to its first
search phase (epoch 10 of 80; cached in ``<work-dir>/start_seed<s>``): the student and the
augmenter TST's first phase starts from, since both methods are the same until then. From
that checkpoint each setting runs one search phase as the study's TST does (10 passes over
the 2.5k subset, the same search optimisation), through ``tools/train.py``, and
``search_proxy_hook.SearchProxyHook`` scores ``x'`` before and after the phase on the 2.5k
training images (test pipeline, 4 draws each, the same random draws before and after):
teacher and student top-1 on ``x'``, **the share of ``x'`` the teacher gets right and the
student wrong** (TRSW), both wrong, ``tau**2 KL(T || S)`` at the KD temperature, and how far
the policy moved (sum of |change| of every probability and magnitude).

Two more candidate proxies are scored beside it (``search_proxy_hook``): the held-out gain of
one virtual distillation step on ``[x'; x]`` (what ``tst_mm.StudentLookahead`` climbs; the
same step on plain KD's ``[x; x]`` beside it) and the standard deviation over images of the
teacher's true-class probability on ``x'`` (Wang et al., NeurIPS 2022). Runs cached before
these existed are scored afterwards from their start checkpoint and the policies in their
``proxy.json`` (``proxy_extra.json``; the student does not change in a search phase, so
the scores are the ones the run would have logged).

A setting is kept when, on average over seeds, it raises the TRSW share without lowering the
teacher's top-1 on ``x'`` (by more than ``--teacher-tolerance`` points). Writes
``benchmarks/results/search_proxy.{md,json,png}``; runs are cached per run dir (config
checked, as the study's), so the proxy can be run in several sittings.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Dict, List, Optional

import cls_quality
import torch
from mmengine.config import Config
from study_runs import ROOT, RunInProgress, cached_result, run_cached

#: The search objectives and settings the proxy can run (``model.search_objective``); the
#: patient study runs each as a ``tst_<setting>`` method.
SETTINGS = cls_quality.SEARCH_OBJECTIVES
#: The study's first search phase, where the proxy starts.
START_EPOCH = 10
SCORES = ('teacher_top1', 'student_top1', 'trsw', 'both_wrong', 'kl', 'teacher_py',
          'student_py', 'teacher_py_std', 'heldout_gain', 'heldout_gain_kd')
#: Scores a run cached before them lacks; :func:`extra_scores` adds them.
EXTRA_SCORES = ('teacher_py_std', 'heldout_gain', 'heldout_gain_kd')


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--settings', nargs='+', choices=sorted(SETTINGS),
                        default=list(SETTINGS))
    parser.add_argument('--jobs', type=int, default=2, help='runs at a time')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--draws', type=int, default=4, help="x' draws per image")
    parser.add_argument('--images', type=int, default=None,
                        help='score on this many of the training images (default: all)')
    parser.add_argument('--teacher-tolerance', type=float, default=0.5,
                        help="points of teacher top-1 on x' a kept setting may lose")
    parser.add_argument('--data-root', default='data/fashion-mnist')
    parser.add_argument('--work-dir', default='work_dirs/bench/search_proxy')
    parser.add_argument('--study-work-dir', default='work_dirs/bench/cls_quality_patient',
                        help='the patient study (its teacher checkpoint sits beside it)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='the patient schedule length (a short one for tests)')
    parser.add_argument('--subset', type=int, default=None,
                        help='student training images (the patient subset by default)')
    parser.add_argument('--val-subset', type=int, default=None,
                        help='test the start checkpoints on this many test images (all)')
    parser.add_argument('--teacher-ckpt', default=None,
                        help="the teacher (the patient study's by default)")
    parser.add_argument('--passes', type=int, default=None,
                        help='search passes (the patient config\'s by default)')
    parser.add_argument('--cached-only', action='store_true',
                        help='train nothing: tabulate the finished runs')
    parser.add_argument('--rescore', nargs='*', choices=sorted(SETTINGS), default=None,
                        help='score the candidate proxies of finished runs cached before them '
                        '(of these settings; all when none is named)')
    parser.add_argument('--out', default='benchmarks/results')
    parser.add_argument('--name', default='search_proxy')
    args = parser.parse_args(argv)
    study = ['--preset', 'patient', '--data-root', args.data_root,
             '--work-dir', args.study_work_dir]
    if args.epochs:
        study += ['--epochs', str(args.epochs)]
    for option in ('subset', 'val_subset', 'teacher_ckpt'):
        if getattr(args, option):
            study += ['--' + option.replace('_', '-'), str(getattr(args, option))]
    args.study = cls_quality.parse_args(study)
    return args


def start_dir(seed: int, args) -> str:
    """The run dir of the start checkpoint of ``seed``."""
    return osp.abspath(osp.join(args.work_dir, f'start_seed{seed}'))


def start_epoch(args) -> int:
    """The epoch of the study's first search phase (``START_EPOCH`` of the full schedule)."""
    return min(cls_quality.patient_config('tst', 0, args.study, '').train_cfg.search_epochs)


def start_config(seed: int, args, teacher_ckpt: str) -> Config:
    """``kd_random`` of the patient study, stopped (and tested) at the first search phase."""
    cfg = cls_quality.patient_config('kd_random', seed, args.study, teacher_ckpt)
    epoch = start_epoch(args)
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epoch
    cfg.default_hooks.checkpoint.interval = epoch
    return cfg


def setting_config(setting: str, seed: int, args, teacher_ckpt: str) -> Config:
    """One search phase of ``setting`` from the start checkpoint of ``seed``, scored."""
    cfg = cls_quality.patient_config('tst', seed, args.study, teacher_ckpt)
    cfg.load_from = osp.join(start_dir(seed, args), f'epoch_{start_epoch(args)}.pth')
    cls_quality.apply_search_setting(cfg, setting)
    # the phase before the first epoch, then one student epoch (nothing reads it)
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.search_epochs = [0]
    if args.passes:
        cfg.train_cfg.search_passes = args.passes
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    dataset = dict(cfg.train_dataloader.dataset,
                   pipeline=cls_quality.load_config(osp.join(ROOT, args.study.tst_config))
                   .test_dataloader.dataset.pipeline)
    if args.images:
        dataset['indices'] = args.images
    cfg.custom_imports = dict(imports=['tst_mm', 'search_proxy_hook'],
                              allow_failed_imports=False)
    cfg.custom_hooks = [dict(
        type='SearchProxyHook', draws=args.draws,
        loader=dict(batch_size=250, num_workers=0, dataset=dataset,
                    sampler=dict(type='DefaultSampler', shuffle=False),
                    collate_fn=dict(type='default_collate')))]
    return cfg


def run_start(seed: int, args, teacher_ckpt: str) -> Dict:
    """Train (or reuse) the start checkpoint of ``seed``."""
    return run_cached(start_dir(seed, args),
                      lambda: start_config(seed, args, teacher_ckpt), 'start', seed,
                      cls_quality.TOP1, 'top1', args.threads)


def run_dir_of(setting: str, seed: int, args) -> str:
    """The run dir of one (setting, seed)."""
    return osp.abspath(osp.join(args.work_dir, f'{setting}_seed{seed}'))


def run_setting(setting: str, seed: int, args, teacher_ckpt: str) -> Dict:
    """One search phase of (setting, seed), or its cached result, with the proxy's scores."""
    # a phase resumed midway would score x' 'before' with a half-searched policy
    result = run_cached(run_dir_of(setting, seed, args),
                        lambda: setting_config(setting, seed, args, teacher_ckpt), setting,
                        seed, 'proxy/trsw_after', 'trsw_after', args.threads, resumable=False)
    return dict(result, **read_proxy(run_dir_of(setting, seed, args)))


def run_distiller(run_dir: str) -> tuple:
    """A finished run's distiller at its start checkpoint (``load_from``), teacher loaded, in
    train mode, and the run's config."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from tst_mm.registry import MODELS
    from tst_mm.utils.safe_checkpoint import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    cfg = cls_quality.load_config(osp.join(run_dir, 'config.wanted.py'))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    distiller = MODELS.build(cfg.model)
    load_checkpoint(distiller, cfg.load_from, map_location='cpu', strict=False)
    distiller.load_teacher()
    distiller.train()
    return distiller, cfg


def extra_scores(run_dir: str, threads: int = 1) -> Dict[str, Dict[str, float]]:
    """The :data:`EXTRA_SCORES` of a finished run that did not log them, before and after its
    phase: the run's distiller from its config and start checkpoint (``load_from``), its
    policies from ``proxy.json``. Cached in ``<run_dir>/proxy_extra.json``."""
    path = osp.join(run_dir, 'proxy_extra.json')
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    from mmengine.runner import Runner
    from search_proxy_hook import lookahead_scores, x_prime_scores
    torch.set_num_threads(threads)
    distiller, cfg = run_distiller(run_dir)
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'SearchProxyHook')
    loader = Runner.build_dataloader(hook['loader'], seed=0)
    with open(osp.join(run_dir, 'proxy.json')) as f:
        records = json.load(f)
    lr = cfg.optim_wrapper.student.optimizer.lr
    out = {}
    for when in ('before', 'after'):
        distiller.augmenter.load_policy(records[when]['policy'])
        scores = {'teacher_py_std': x_prime_scores(distiller, loader, hook['draws'],
                                                   4.0)['teacher_py_std']}
        scores.update(lookahead_scores(distiller, loader, hook['draws'], lr))
        out[when] = scores
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)
    return out


def read_proxy(run_dir: str) -> Dict:
    """Scores before and after the phase and how far the policy moved, from ``proxy.json``
    (and ``proxy_extra.json`` for the scores a run cached before them lacks)."""
    with open(osp.join(run_dir, 'proxy.json')) as f:
        records = json.load(f)
    extra_path = osp.join(run_dir, 'proxy_extra.json')
    if osp.isfile(extra_path):
        with open(extra_path) as f:
            for when, scores in json.load(f).items():
                for key, value in scores.items():
                    records[when]['scores'].setdefault(key, value)
    before, after = records['before'], records['after']
    moved = sum(abs((after['policy'][op][key] or 0.0) - (before['policy'][op][key] or 0.0))
                for op in before['policy'] for key in ('probability', 'magnitude'))
    return dict(before=before['scores'], after=after['scores'], moved=moved,
                policy=after['policy'])


# ---------------------------------------------------------------------- report
def summarise(results: List[Dict], tolerance: float) -> Dict[str, Dict]:
    """Per setting: means over seeds of every score before / after and of their changes."""
    by_setting: Dict[str, List[Dict]] = {}
    for result in results:
        by_setting.setdefault(result['method'], []).append(result)
    summary = {}
    for setting in SETTINGS:
        runs = sorted(by_setting.get(setting, []), key=lambda r: r['seed'])
        if not runs:
            continue
        row = {'seeds': [r['seed'] for r in runs],
               'moved': statistics.mean(r['moved'] for r in runs)}
        for score in SCORES:
            if any(score not in r['before'] for r in runs):  # cached, not yet rescored
                continue
            changes = [r['after'][score] - r['before'][score] for r in runs]
            row[score] = {'before': statistics.mean(r['before'][score] for r in runs),
                          'after': statistics.mean(r['after'][score] for r in runs),
                          'change': statistics.mean(changes),
                          'change_std': statistics.stdev(changes) if len(changes) > 1 else 0.0,
                          'changes': changes}
        row['kept'] = (row['trsw']['change'] > 0
                       and 100 * row['teacher_top1']['change'] >= -tolerance)
        summary[setting] = row
    return summary


def _pct(value: float) -> str:
    return f'{100 * value:.1f}'


def _change(row: dict, score: str, scale: float = 100.0, digits: int = 1) -> str:
    cell = row[score]
    return (f'{cell["before"] * scale:.{digits}f} -> {cell["after"] * scale:.{digits}f} '
            f'({cell["change"] * scale:+.{digits}f} ± {cell["change_std"] * scale:.{digits}f})')


def table(summary: Dict[str, Dict]) -> List[str]:
    """Markdown lines, one row per setting."""
    lines = ['| setting | objective | seeds | teacher top-1 on x\' (%) | student top-1 on x\' | '
             'teacher right, student wrong | both wrong | KL(T‖S) at τ=4 | policy moved | '
             'kept |',
             '|---|---|---|---|---|---|---|---|---|---|']
    extra = []
    for setting, row in summary.items():
        objective = ', '.join(f'{k}={v}' for k, v in SETTINGS[setting].items()
                              if k != 'type') or 'defaults'
        objective = f'{SETTINGS[setting]["type"].split(".")[-1]} ({objective})'
        lines.append(
            f'| {setting} | {objective} | {len(row["seeds"])} | '
            f'{_change(row, "teacher_top1")} | {_change(row, "student_top1")} | '
            f'{_change(row, "trsw")} | {_change(row, "both_wrong")} | '
            f'{_change(row, "kl", 1.0, 3)} | {row["moved"]:.2f} | '
            f'{"yes" if row["kept"] else "no"} |')
        if 'heldout_gain' in row:
            extra.append(
                f'| {setting} | {len(row["seeds"])} | {_change(row, "heldout_gain", 1e3, 2)} | '
                f'{row["heldout_gain_kd"]["after"] * 1e3:.2f} | '
                f'{_change(row, "teacher_py_std", 1.0, 4)} |')
    if extra:
        lines += ['', 'Candidate proxies: the held-out gain of one virtual distillation step '
                  'on [x\'; x] (x 1e-3, positive: the step lowered the loss on the held-out '
                  'half of each batch) beside the same step on plain KD\'s [x; x], and the '
                  'standard deviation over images of the teacher\'s true-class probability on '
                  'x\' (Wang et al. 2022; lower predicted better students):', '',
                  '| setting | seeds | held-out gain of a step on [x\'; x] (x 1e-3) | '
                  'on [x; x] (plain KD) | std of the teacher\'s p_y on x\' |',
                  '|---|---|---|---|---|', *extra]
    return lines


def plot(summary: Dict[str, Dict], out: str, tolerance: float) -> None:
    """Change of the TRSW share against the change of the teacher's top-1 on x', per setting."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for i, (setting, row) in enumerate(summary.items()):
        x = [100 * c for c in row['teacher_top1']['changes']]
        y = [100 * c for c in row['trsw']['changes']]
        colour = f'C{i % 10}'
        ax.scatter(x, y, color=colour, alpha=0.35, s=14)
        ax.errorbar(statistics.mean(x), statistics.mean(y),
                    xerr=row['teacher_top1']['change_std'] * 100,
                    yerr=row['trsw']['change_std'] * 100, fmt='o', color=colour,
                    capsize=3, label=f'{setting} ({len(x)} seeds)')
    ax.axhline(0, color='grey', linewidth=1)
    ax.axvline(0, color='grey', linewidth=1)
    ax.axvline(-tolerance, color='grey', linestyle=':', linewidth=1)
    xs = [100 * c for row in summary.values() for c in row['teacher_top1']['changes']]
    ys = [100 * c for row in summary.values() for c in row['trsw']['changes']]
    xlim = min(xs + [-tolerance]) - 1, max(xs + [0]) + 1
    ylim = min(ys + [0]) - 1, max(ys + [0]) + 1
    ax.fill_between([-tolerance, xlim[1]], 0, ylim[1], color='C2', alpha=0.07)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel('change of the teacher\'s top-1 on x\' over the phase (points)')
    ax.set_ylabel('change of the share of x\' teacher right, student wrong (points)')
    ax.set_title('One search phase from the same students (shaded: kept region)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='best')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def write_report(args, results: List[Dict], starts: List[Dict], command: str,
                 missing: List[str]) -> Dict[str, Dict]:
    """Write ``<name>.{md,json,png}``; return the summary."""
    summary = summarise(results, args.teacher_tolerance)
    os.makedirs(args.out, exist_ok=True)
    start_top1 = ', '.join(f'seed {r["seed"]}: {r["top1"]:.2f}' for r in starts)
    lines = [
        f'Search-objective proxy, {os.cpu_count()} CPU cores, torch {torch.__version__}, '
        f'{date.today()}.',
        f'Command: `{command}`.',
        f'Start: the patient study\'s KD + untrained-policy student and augmenter at epoch '
        f'{start_epoch(args)} (test top-1 {start_top1}); one search phase per setting; x\' '
        f'scored on the training subset (test pipeline, {args.draws} draws per image, the same '
        'draws before and after). Cells: before -> after (change ± sample std over seeds), '
        f'means over seeds. Kept: the TRSW share rises and the teacher\'s top-1 on x\' falls '
        f'by at most {args.teacher_tolerance} points.', '', *table(summary)]
    if missing:
        lines += ['', f'Not run (yet): {", ".join(missing)}.']
    with open(osp.join(args.out, f'{args.name}.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(osp.join(args.out, f'{args.name}.json'), 'w') as f:
        json.dump(dict(command=command, date=str(date.today()), settings=SETTINGS,
                       draws=args.draws, starts=starts, summary=summary,
                       runs=[{k: v for k, v in r.items() if k != 'policy'} for r in results],
                       missing=missing), f, indent=1)
    if summary:
        plot(summary, osp.join(args.out, f'{args.name}.png'), args.teacher_tolerance)
    return summary


def main(argv: Optional[List[str]] = None) -> None:
    """Run the proxy."""
    args = parse_args(argv)
    command = 'python benchmarks/search_proxy.py ' + ' '.join(sys.argv[1:] if argv is None
                                                               else argv)
    os.environ['PYTHONPATH'] = os.pathsep.join(
        [osp.join(ROOT, 'benchmarks'), os.environ.get('PYTHONPATH', '')])
    started = time.time()
    teacher_ckpt, _ = cls_quality.ensure_teacher(args.study)
    start_seeds = [seed for seed in args.seeds if not args.cached_only or cached_result(
        start_dir(seed, args), lambda s=seed: start_config(s, args, teacher_ckpt)) is not None]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        starts = list(pool.map(lambda seed: run_start(seed, args, teacher_ckpt), start_seeds))
    for start in starts:
        print(f'start seed {start["seed"]}: top-1 {start["top1"]:.2f} at epoch '
              f'{start_epoch(args)}', flush=True)
    done = {r['seed'] for r in starts}
    jobs = [(setting, seed) for seed in args.seeds for setting in args.settings]
    missing = [f'{s} seed {seed}' for s, seed in jobs if seed not in done]
    if args.cached_only:
        missing += [f'{s} seed {seed}' for s, seed in jobs if seed in done and cached_result(
            run_dir_of(s, seed, args),
            lambda a=s, b=seed: setting_config(a, b, args, teacher_ckpt)) is None]
    jobs = [(s, seed) for s, seed in jobs if f'{s} seed {seed}' not in missing]
    results: List[Dict] = []
    lock = threading.Lock()

    def one(job):
        setting, seed = job
        try:
            result = run_setting(setting, seed, args, teacher_ckpt)
        except RunInProgress as err:
            print(f'skipped: {err}', flush=True)
            return
        with lock:
            results.append(result)
            write_report(args, results, starts, command, missing)
            print(f'[{len(results)}/{len(jobs)}] {setting} seed {seed}: TRSW '
                  f'{_pct(result["before"]["trsw"])} -> {_pct(result["after"]["trsw"])}, '
                  f'teacher on x\' {_pct(result["before"]["teacher_top1"])} -> '
                  f'{_pct(result["after"]["teacher_top1"])} ({result["wall_s"]:.0f} s; '
                  f'{(time.time() - started) / 60:.1f} min so far)', flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one, job) for job in jobs]:
            future.result()
    if args.rescore is not None:
        for index, result in enumerate(results):
            run_dir = run_dir_of(result['method'], result['seed'], args)
            if 'heldout_gain' not in result['before'] and result['method'] in (
                    args.rescore or SETTINGS):
                print(f'rescoring {run_dir}', flush=True)
                extra_scores(run_dir, args.threads)
                results[index] = dict(result, **read_proxy(run_dir))
    write_report(args, results, starts, command, missing)
    with open(osp.join(args.out, f'{args.name}.md')) as f:
        print('\n' + f.read())
    print(f'total {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
