"""Reading a run's logged scalars: a resumed run reads as one uninterrupted run."""
import json
import os.path as osp
import tarfile

from tst_testing import ROOT

from tst_mm.utils import last_logged_scalar, logged_records

CACHE = osp.join(ROOT, 'benchmarks/cache/cls_quality_patient.tar.gz')
#: A run of the patient study launched three times: epochs 1-24, then 21-25 (from the epoch-20
#: checkpoint), then 21-80; the first and third launches each ran one search phase.
RESUMED = 'cls_quality_patient/tst_seed0/'


def _resumed_run(tmp_path) -> str:
    """The logged scalars of the resumed run, as they lie in its work dir."""
    with tarfile.open(CACHE) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(RESUMED) and m.name.endswith('vis_data/scalars.json')]
        tar.extractall(tmp_path, members=members, filter='data')
    assert len(members) == 3  # three launches, three timestamped folders
    return str(tmp_path / RESUMED)


def test_a_resumed_run_has_one_record_per_step_in_step_order(tmp_path):
    run_dir = _resumed_run(tmp_path)
    epochs = logged_records(run_dir, 'epoch/diag.teacher_top1_aug')
    # 20 iterations an epoch, 80 epochs; the launches logged 24 + 5 + 60 = 89 epoch records
    assert [r['step'] for r in epochs] == list(range(20, 1601, 20))
    passes = logged_records(run_dir, 'search_pass/loss')  # stepped by search iteration
    assert [r['step'] for r in passes] == list(range(20, 401, 20))
    assert [r['search_pass/position'] for r in passes] == [10] * 10 + [30] * 10
    assert last_logged_scalar(run_dir, 'train_subset/accuracy/top1') == 94.95999908447266


def test_a_later_launch_replaces_what_an_earlier_one_logged_for_a_step(tmp_path):
    for launch, records in (('20260101_000000', [(1, 0.1), (2, 0.2), (3, 0.3)]),
                            ('20260101_010000', [(2, 0.25), (3, 0.35), (4, 0.45)])):
        vis = tmp_path / launch / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(''.join(
            json.dumps({'loss': value, 'step': step}) + '\n' + json.dumps({'lr': 1, 'step': step})
            + '\n' for step, value in records))
    records = logged_records(str(tmp_path), 'loss')
    assert [(r['step'], r['loss']) for r in records] == [(1, 0.1), (2, 0.25), (3, 0.35),
                                                         (4, 0.45)]
    assert last_logged_scalar(str(tmp_path), 'loss') == 0.45
