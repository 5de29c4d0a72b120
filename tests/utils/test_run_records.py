"""Reading a run's logged scalars: a resumed run reads as one uninterrupted run."""
import json
import os.path as osp
import tarfile

import pytest
from tst_testing import ROOT, extract_members

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
        extract_members(tar, str(tmp_path), members)
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


@pytest.mark.parametrize('has_filters', [True, False])
def test_extract_members_refuses_what_would_land_outside(tmp_path, monkeypatch, has_filters):
    """With and without Python's extraction filters (3.11.4+; not in Debian 12's 3.11.2): the
    files are extracted; a member with ``..`` or a link out of the folder is refused, and one
    with an absolute path is refused (no filters) or put inside the folder (the filter)."""
    import io
    if has_filters and not hasattr(tarfile, 'data_filter'):
        pytest.skip('this Python has no extraction filters (3.11.4+)')
    if not has_filters:
        monkeypatch.delattr(tarfile, 'data_filter', raising=False)
    archive = tmp_path / 'a.tar'
    with tarfile.open(archive, 'w') as tar:
        for name in ('run/a.json', '../outside.json', str(tmp_path / 'abs.json')):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b'{}'))
        link = tarfile.TarInfo('run/link')
        link.type, link.linkname = tarfile.SYMTYPE, '/etc/passwd'
        tar.addfile(link)
    dest = tmp_path / 'out'
    dest.mkdir()
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        extract_members(tar, str(dest), [members['run/a.json']])
        assert (dest / 'run' / 'a.json').read_text() == '{}'
        for name in ('../outside.json', 'run/link'):
            with pytest.raises(Exception, match='outside|absolute|refusing'):
                extract_members(tar, str(dest), [members[name]])
        absolute = members[str(tmp_path / 'abs.json')]
        if has_filters:
            extract_members(tar, str(dest), [absolute])
        else:
            with pytest.raises(ValueError, match='refusing'):
                extract_members(tar, str(dest), [absolute])
    assert not (tmp_path / 'outside.json').exists() and not (dest / 'run' / 'link').exists()
    assert not (tmp_path / 'abs.json').exists()
