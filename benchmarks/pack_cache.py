"""Pack the studies' cache so that they continue on another machine.

    python benchmarks/pack_cache.py                  # work_dirs/bench -> benchmarks/cache/...
    mkdir -p work_dirs/bench && tar xzf benchmarks/cache/cls_quality_patient.tar.gz \\
        -C work_dirs/bench                           # on the other machine

Packs the two classification teachers (their checkpoints and their logs, where the studies
read their top-1), the patient study's runs (``cls_quality_patient/``), the short study's
(``cls_quality/``), the search proxy's (``search_proxy/``) and the scenes studies'
(``det_quality/``, ``seg_quality/``, their teachers inside; the scenes themselves are
generated again, the same from the same seed, by ``tools/data/make_scenes.py``):
every log, config and result, and the checkpoints a study still needs,
namely the one ``last_checkpoint`` names in a run that has not finished (it resumes from it)
and those of the proxy's start runs (every setting starts from them). A finished run's
checkpoints stay behind: its result is read from its logs. Run locks stay behind too.
"""
import argparse
import os
import os.path as osp
import tarfile
from typing import Iterator

#: The folders under the bench dir that travel, and the teacher checkpoint.
FOLDERS = ('cls_quality_patient', 'cls_quality', 'search_proxy', 'det_quality', 'seg_quality')
TEACHERS = ('teacher_crop-flip_15e/epoch_15.pth', 'teacher_demo_2e/epoch_2.pth')
#: Runs whose checkpoints are kept even when finished (other runs start from them).
START_RUNS = ('start_seed',)


def _kept_checkpoint(run_dir: str) -> str:
    """The checkpoint of ``run_dir`` a study still needs, or ``''``."""
    if osp.basename(run_dir).startswith(START_RUNS) or not osp.isfile(
            osp.join(run_dir, 'result.json')):
        try:
            with open(osp.join(run_dir, 'last_checkpoint')) as f:
                return osp.basename(f.read().strip())
        except FileNotFoundError:
            return ''
    return ''


def cache_members(bench_dir: str) -> Iterator[str]:
    """Paths (relative to ``bench_dir``) that go into the cache, sorted."""
    members = [teacher for teacher in TEACHERS if osp.isfile(osp.join(bench_dir, teacher))]
    for teacher in TEACHERS:  # their logs too: the studies read their test top-1 from them
        for root, _, files in os.walk(osp.join(bench_dir, osp.dirname(teacher))):
            members += [osp.relpath(osp.join(root, name), bench_dir) for name in files
                        if not name.endswith(('.pth', '.lock', 'last_checkpoint'))]
    for folder in FOLDERS:
        for root, _, files in os.walk(osp.join(bench_dir, folder)):
            run_dir = root if osp.dirname(root) == osp.join(bench_dir, folder) else None
            kept = _kept_checkpoint(run_dir) if run_dir else ''
            for name in files:
                if name.endswith('.lock') or (name.endswith('.pth') and name != kept):
                    continue
                members.append(osp.relpath(osp.join(root, name), bench_dir))
    return iter(sorted(members))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--bench-dir', default='work_dirs/bench')
    parser.add_argument('--out', default='benchmarks/cache/cls_quality_patient.tar.gz')
    args = parser.parse_args()
    members = list(cache_members(args.bench_dir))
    with tarfile.open(args.out, 'w:gz') as tar:
        for member in members:
            tar.add(osp.join(args.bench_dir, member), arcname=member)
    print(f'{len(members)} files, {osp.getsize(args.out) / 2**20:.1f} MiB -> {args.out}')


if __name__ == '__main__':
    main()
