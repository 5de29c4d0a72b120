"""What the quality studies share: running repo tools, cached training runs, per-method summaries.

``benchmarks/cls_quality.py``, ``benchmarks/seg_quality.py`` and ``benchmarks/det_quality.py``
train every (method, seed) in a process of its own through ``tools/train.py``, with the run's
full config written to its work dir, and keep a ``result.json`` there so a study that stops
continues where it left off.
"""
import contextlib
import fcntl
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from tst_mm.utils import last_logged_scalar  # noqa: E402

__all__ = [
    'ROOT', 'run_tool', 'run_cached', 'cached_result', 'RunInProgress', 'load_config',
    'summarise', 'summary_table', 'comparison_notes', 'paired_differences', 'paired_table'
]

#: mmengine's ``Config.fromfile`` resolves ``pkg::`` bases through pkg_resources, which is not
#: thread-safe: studies that run several jobs at once build their configs one at a time (reentrant:
#: a config builder may load configs itself).
_CONFIG_LOCK = threading.RLock()


def run_tool(args: List[str], log_path: str, threads: int, append: bool = False) -> float:
    """Run a repo tool to completion, its output in ``log_path``; return the wall time.

    Args:
        args: The tool and its arguments.
        log_path: Where its output goes.
        threads: Torch (OpenMP / MKL) threads of the process.
        append: Add to an existing log instead of replacing it.

    Raises:
        RuntimeError: If the tool fails (the message points at the log).
    """
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'a' if append else 'w') as log:
        status = subprocess.call([sys.executable, *args], cwd=ROOT, env=env, stdout=log,
                                 stderr=subprocess.STDOUT)
    if status != 0:
        raise RuntimeError(f'{" ".join(args)} failed (exit {status}); see {log_path}')
    return time.time() - start


def _read(path: str) -> Optional[str]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read()


def _set_aside(run_dir: str) -> str:
    """Rename a run dir whose config is not the wanted one; return the new name."""
    n = 1
    while osp.exists(f'{run_dir}.stale{n}'):
        n += 1
    os.rename(run_dir, f'{run_dir}.stale{n}')
    return f'{run_dir}.stale{n}'


def load_config(path: str) -> Config:
    """``Config.fromfile`` one thread at a time (see ``_CONFIG_LOCK``)."""
    with _CONFIG_LOCK:
        return Config.fromfile(path)


def _wanted_config(make_config: Callable[[], Config]) -> str:
    with _CONFIG_LOCK:
        return make_config().pretty_text


#: The config a study asked for, as written before training (the runner rewrites config.py).
WANTED_CONFIG = 'config.wanted.py'


def _result(run_dir: str) -> Optional[Dict]:
    text = _read(osp.join(run_dir, 'result.json'))
    return None if text is None else json.loads(text)


def cached_result(run_dir: str, make_config: Callable[[], Config]) -> Optional[Dict]:
    """The finished run's result if its config is exactly ``make_config()``, else ``None``."""
    result = _result(run_dir)
    if result is None or _read(osp.join(run_dir, WANTED_CONFIG)) != _wanted_config(make_config):
        return None
    return result


class RunInProgress(RuntimeError):
    """Another live study process is training this run (its lock file names the process)."""


#: A lock file that names no process is being written, unless it is older than this: then its
#: writer died before it could name itself, and the lock is stale.
UNNAMED_LOCK_GRACE_S = 60.0


def _lock_owner(lock: str) -> Optional[int]:
    """The live process a lock file names; ``None`` if the lock is stale (its process is
    gone, or it names none and is older than :data:`UNNAMED_LOCK_GRACE_S`).

    Raises:
        RunInProgress: If the lock names no process yet but is young (being written).
    """
    text = (_read(lock) or '').strip()
    if not text.isdigit() or int(text) <= 0:
        try:
            age = time.time() - os.stat(lock).st_mtime
        except FileNotFoundError:  # its owner just finished
            return None
        if age > UNNAMED_LOCK_GRACE_S:
            return None
        raise RunInProgress(f'{lock} is being claimed by another process (written {age:.0f} s '
                            'ago, names no process yet)')
    owner = int(text)
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return owner
    return owner


@contextlib.contextmanager
def _claims_of(folder: str) -> Iterator[None]:
    """Hold the claim guard of ``folder``: an exclusive ``flock`` on the folder itself.

    Every claim of a lock in the folder (the check of its owner, the removal of a stale lock
    and the link of the new one) runs inside, so two processes that both find a stale lock
    cannot both take it: the second sees the first one's fresh claim. The kernel releases the
    guard when its holder exits, however it exits, so a crash never leaves it behind (unlike
    a lock file). It is held for microseconds; waiters block. Works between threads too
    (each opens the folder itself).
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _claim(run_dir: str) -> str:
    """Take ``<run_dir>.lock`` for this process; a lock left by a dead process is taken over.

    The lock file appears with this process's id in it (written aside, then linked into
    place), so another process never reads it empty. Judging a lock stale, removing it and
    linking the new one happen together under the folder's claim guard (:func:`_claims_of`),
    so a stale lock is taken over by one process only.

    Raises:
        RunInProgress: If a live process holds it.
    """
    lock = run_dir.rstrip('/') + '.lock'
    folder = osp.dirname(lock)
    os.makedirs(folder, exist_ok=True)
    mine = f'{lock}.{os.getpid()}.{threading.get_ident()}'
    with open(mine, 'w') as f:
        f.write(str(os.getpid()))
    try:
        with _claims_of(folder):
            try:
                os.link(mine, lock)
                return lock
            except FileExistsError:
                pass
            owner = _lock_owner(lock)
            if owner is not None:
                raise RunInProgress(f'{run_dir} is being trained by process {owner}') from None
            try:
                os.remove(lock)  # stale; no other claim can come in between (the guard)
            except FileNotFoundError:  # its owner just finished
                pass
            os.link(mine, lock)
            return lock
    finally:
        os.remove(mine)


def run_cached(run_dir: str, make_config: Callable[[], Config], method: str, seed: int,
               metric: str, result_key: str, threads: int, scale: float = 1.0,
               resumable: bool = True) -> Dict:
    """Train and test one (method, seed) in ``run_dir``, or return its cached result.

    The run's full config is dumped to ``<run_dir>/config.py`` (trained; the runner rewrites
    it with its own additions) and ``config.wanted.py`` (kept as written). What is there
    already counts only if that config is exactly the one asked for now: a finished run
    (``result.json``) is reused, an interrupted one (a checkpoint written) continues with
    ``--resume``; a run dir with another config (or none) is renamed ``<run_dir>.staleN`` and
    the run starts afresh.

    Args:
        run_dir: The run's work dir (absolute).
        make_config: Builds the run's full config.
        method: Method name, recorded in the result.
        seed: Seed, recorded in the result.
        metric: The logged scalar to read at the end, e.g. ``'accuracy/top1'`` or ``'mIoU'``.
        result_key: The name the metric gets in the result, e.g. ``'top1'`` or ``'miou'``.
        threads: Torch threads of the training process.
        scale: Factor applied to the logged value, e.g. 100 for a COCO mAP logged in [0, 1].
        resumable: Whether an interrupted run continues; if not, it is set aside and the run
            starts afresh (for runs that measure something at their start).

    Returns:
        ``{'method', 'seed', result_key, 'wall_s'}`` (plus ``'resumed': True`` when the run
        continued an interrupted one; ``wall_s`` is then the last launch's).

    Raises:
        RunInProgress: If another live process is training the run (studies can be run
            from several processes at once; each run is trained by one).
    """
    lock = _claim(run_dir)
    try:
        return _run_claimed(run_dir, make_config, method, seed, metric, result_key, threads,
                            scale, resumable)
    finally:
        os.remove(lock)


def _run_claimed(run_dir: str, make_config: Callable[[], Config], method: str, seed: int,
                 metric: str, result_key: str, threads: int, scale: float,
                 resumable: bool) -> Dict:
    """:func:`run_cached` once this process holds the run's lock."""
    config_path = osp.join(run_dir, 'config.py')
    wanted = _wanted_config(make_config)
    resume = False
    if osp.isdir(run_dir):
        if _read(osp.join(run_dir, WANTED_CONFIG)) != wanted:
            print(f'{run_dir} holds another config than this study asks for now: moved to '
                  f'{_set_aside(run_dir)}', flush=True)
        elif (result := _result(run_dir)) is not None:
            return result
        elif not resumable:
            print(f'{run_dir} was interrupted and does not resume: moved to '
                  f'{_set_aside(run_dir)}', flush=True)
        else:
            resume = osp.isfile(osp.join(run_dir, 'last_checkpoint'))
    os.makedirs(run_dir, exist_ok=True)
    for path in (config_path, osp.join(run_dir, WANTED_CONFIG)):
        with open(path, 'w') as f:
            f.write(wanted)
    wall = run_tool(['tools/train.py', config_path, '--work-dir', run_dir,
                     *(['--resume'] if resume else [])],
                    osp.join(run_dir, 'train.log'), threads=threads, append=resume)
    value = last_logged_scalar(run_dir, metric)
    if value is None:
        raise RuntimeError(f'{run_dir}: no {metric} logged; see {run_dir}/train.log')
    result = {'method': method, 'seed': seed, result_key: value * scale,
              'wall_s': round(wall, 1)}
    if resume:
        result['resumed'] = True
    with open(osp.join(run_dir, 'result.json'), 'w') as f:
        json.dump(result, f)
    return result


def summarise(results: List[Dict], teacher_value: float, methods: Sequence[str],
              result_key: str) -> Dict[str, Dict]:
    """Mean, sample std and the share of the teacher-student gap closed, per method.

    The gap closed is ``(mean - alone) / (teacher - alone)`` against the ``'alone'`` method's
    mean, ``None`` without it. Methods come out in ``methods`` order; each row lists its values
    under ``result_key`` with their ``seeds``.
    """
    by_method: Dict[str, List[Dict]] = {}
    for result in results:
        by_method.setdefault(result['method'], []).append(result)
    alone = by_method.get('alone')
    alone_mean = statistics.mean(r[result_key] for r in alone) if alone else None
    summary = {}
    for method in methods:
        runs = sorted(by_method.get(method, []), key=lambda r: r['seed'])
        if not runs:
            continue
        values = [r[result_key] for r in runs]
        mean = statistics.mean(values)
        gap = None
        if alone_mean is not None and teacher_value > alone_mean:
            gap = 100.0 * (mean - alone_mean) / (teacher_value - alone_mean)
        summary[method] = {
            'n': len(values), 'mean': mean,
            'std': statistics.stdev(values) if len(values) > 1 else 0.0,
            result_key: values, 'seeds': [r['seed'] for r in runs], 'gap_closed': gap,
            'wall_s': _whole_run_wall(runs)
        }
    return summary


def _whole_run_wall(runs: List[Dict]) -> Optional[float]:
    """Mean wall time of the runs that ran in one launch, ``None`` if none did (a resumed
    run records only its last launch's time, which would understate the mean)."""
    walls = [run['wall_s'] for run in runs if not run.get('resumed')]
    return statistics.mean(walls) if walls else None


def summary_table(summary: Dict[str, Dict], descriptions: Dict[str, str], result_key: str,
                  metric: str) -> List[str]:
    """Markdown lines of a :func:`summarise` result, one row per method.

    Args:
        summary: What :func:`summarise` returned.
        descriptions: The row label of each method.
        result_key: The key of the per-seed values (as given to :func:`summarise`).
        metric: The metric's column name, e.g. ``'top-1'`` or ``'mIoU'``.
    """
    lines = [f'| method | n | {metric} mean (%) | std | gap closed | per seed | wall (s) |',
             '|---|---|---|---|---|---|---|']
    for method, row in summary.items():
        gap = '-' if row['gap_closed'] is None else f'{row["gap_closed"]:.0f}%'
        per_seed = ', '.join(f'{v:.2f}' for v in row[result_key])
        wall = '-' if row['wall_s'] is None else f'{row["wall_s"]:.0f}'
        lines.append(f'| {descriptions[method]} | {row["n"]} | {row["mean"]:.2f} | '
                     f'{row["std"]:.2f} | {gap} | {per_seed} | {wall} |')
    return lines


def comparison_notes(summary: Dict[str, Dict], descriptions: Dict[str, str],
                     pairs: Sequence[Tuple[str, str]], result_key: str,
                     unit: str) -> List[str]:
    """Plain-words comparisons of methods on the seeds they share, one Markdown bullet each.

    Args:
        summary: What :func:`summarise` returned.
        descriptions: The name of each method in the sentences.
        pairs: ``(method, baseline)`` pairs to compare; pairs with a missing method or no
            shared seed are left out.
        result_key: The key of the per-seed values.
        unit: The metric's name in the sentences, e.g. ``'mIoU'``.
    """
    out = []
    for method, base in pairs:
        if method not in summary or base not in summary:
            continue
        a, b = summary[method], summary[base]
        mine = dict(zip(a['seeds'], a[result_key]))
        theirs = dict(zip(b['seeds'], b[result_key]))
        seeds = sorted(set(mine) & set(theirs))
        if not seeds:
            continue
        diff = statistics.mean(mine[seed] - theirs[seed] for seed in seeds)
        wins = sum(mine[seed] > theirs[seed] for seed in seeds)
        verdict = 'beats' if diff > 0 else 'does not beat'
        if 0 < diff <= max(a['std'], b['std']):
            verdict += ' (by less than one seed standard deviation)'
        out.append(f'- {descriptions[method]} {verdict} {descriptions[base]}: '
                   f'{diff:+.2f} {unit} on average over the {len(seeds)} shared seeds, higher '
                   f'on {wins} of them.')
    return out


def paired_differences(summary: Dict[str, Dict], pairs: Sequence[Tuple[str, str]],
                       result_key: str) -> List[Dict]:
    """Per-seed differences of methods against baselines, on the seeds both have.

    Args:
        summary: What :func:`summarise` returned.
        pairs: ``(method, baseline)`` pairs; pairs with a missing method or no shared seed
            are left out.
        result_key: The key of the per-seed values.

    Returns:
        One dict per pair: ``method``, ``baseline``, ``seeds``, ``diffs`` (per seed),
        ``mean``, ``std`` (sample std of the differences, 0 for one seed) and ``wins`` (seeds
        on which the method is higher).
    """
    out = []
    for method, base in pairs:
        if method not in summary or base not in summary:
            continue
        mine = dict(zip(summary[method]['seeds'], summary[method][result_key]))
        theirs = dict(zip(summary[base]['seeds'], summary[base][result_key]))
        seeds = sorted(set(mine) & set(theirs))
        if not seeds:
            continue
        diffs = [mine[seed] - theirs[seed] for seed in seeds]
        out.append({'method': method, 'baseline': base, 'seeds': seeds, 'diffs': diffs,
                    'mean': statistics.mean(diffs),
                    'std': statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
                    'wins': sum(d > 0 for d in diffs)})
    return out


def paired_table(pairs: List[Dict], descriptions: Dict[str, str]) -> List[str]:
    """Markdown lines of :func:`paired_differences`, one row per pair."""
    lines = ['| method | baseline | seeds | mean difference | std | higher on | per seed |',
             '|---|---|---|---|---|---|---|']
    for row in pairs:
        per_seed = ', '.join(f'{d:+.2f}' for d in row['diffs'])
        lines.append(f'| {descriptions[row["method"]]} | {descriptions[row["baseline"]]} | '
                     f'{len(row["seeds"])} | {row["mean"]:+.2f} | {row["std"]:.2f} | '
                     f'{row["wins"]} of {len(row["seeds"])} | {per_seed} |')
    return lines
