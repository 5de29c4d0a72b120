"""benchmarks/study_runs.py on known inputs: means, standard deviations, gap closed, paired
differences and their sentences; and the scale of the metrics the studies read (COCO mAP is
logged in [0, 1] and scaled to %, mIoU is logged in %)."""
import json
import math
import os
import os.path as osp
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from mmengine.config import Config
from tst_testing import load_script

study_runs = load_script('benchmarks/study_runs.py')

RESULTS = [  # (method, seed, top1): alone 80/82, kd 84/86, tst 85/84, dkd only seed 1
    dict(method='alone', seed=0, top1=80.0, wall_s=10.0),
    dict(method='alone', seed=1, top1=82.0, wall_s=12.0),
    dict(method='kd', seed=1, top1=86.0, wall_s=20.0),
    dict(method='kd', seed=0, top1=84.0, wall_s=22.0),
    dict(method='tst', seed=0, top1=85.0, wall_s=30.0),
    dict(method='tst', seed=1, top1=84.0, wall_s=30.0),
    dict(method='dkd', seed=1, top1=81.0, wall_s=5.0),
]
NAMES = dict(alone='student alone', kd='KD', tst='TST', dkd='DKD')


def test_summarise_means_stds_and_gap_closed():
    summary = study_runs.summarise(RESULTS, teacher_value=90.0,
                                   methods=['alone', 'kd', 'tst', 'dkd', 'dist'],
                                   result_key='top1')
    assert list(summary) == ['alone', 'kd', 'tst', 'dkd']  # order given; no runs, no row
    kd = summary['kd']
    assert kd['seeds'] == [0, 1] and kd['top1'] == [84.0, 86.0]  # sorted by seed
    assert kd['mean'] == 85.0 and kd['std'] == pytest.approx(math.sqrt(2.0))
    assert kd['gap_closed'] == pytest.approx(100.0 * (85.0 - 81.0) / (90.0 - 81.0))
    assert kd['wall_s'] == 21.0 and kd['n'] == 2
    assert summary['alone']['gap_closed'] == 0.0
    assert summary['tst']['gap_closed'] == pytest.approx(100.0 * 3.5 / 9.0)
    assert summary['dkd']['std'] == 0.0 and summary['dkd']['gap_closed'] == 0.0
    # no gap to close without the 'alone' baseline
    without = study_runs.summarise(RESULTS[2:], 90.0, ['kd'], 'top1')
    assert without['kd']['gap_closed'] is None


def test_wall_time_counts_only_runs_that_ran_in_one_launch():
    """A resumed run records only its last launch's time: it stays out of the mean wall,
    and a method whose runs were all resumed shows no wall time."""
    resumed = [dict(method='tst', seed=2, top1=86.0, wall_s=1.0, resumed=True),
               dict(method='kd', seed=2, top1=85.0, wall_s=2.0, resumed=True)]
    summary = study_runs.summarise(RESULTS + resumed, 90.0, ['kd', 'tst'], 'top1')
    assert summary['tst']['wall_s'] == 30.0 and summary['tst']['n'] == 3
    only_resumed = study_runs.summarise(resumed, 90.0, ['kd'], 'top1')
    assert only_resumed['kd']['wall_s'] is None
    table = study_runs.summary_table(only_resumed, NAMES, 'top1', 'top-1')
    assert table[-1].endswith('| 85.00 | - |')


def test_comparison_notes_are_paired_over_shared_seeds():
    summary = study_runs.summarise(RESULTS, 90.0, ['alone', 'kd', 'tst', 'dkd'], 'top1')
    notes = study_runs.comparison_notes(
        summary, NAMES, [('tst', 'kd'), ('kd', 'alone'), ('dkd', 'kd'), ('tst', 'dist')],
        'top1', 'top-1')
    assert notes == [
        '- TST does not beat KD: -0.50 top-1 on average over the 2 shared seeds, higher on 1 '
        'of them.',
        '- KD beats student alone: +4.00 top-1 on average over the 2 shared seeds, higher on 2 '
        'of them.',
        '- DKD does not beat KD: -5.00 top-1 on average over the 1 shared seeds, higher on 0 '
        'of them.']  # ('tst', 'dist'): no such method, no sentence
    close = study_runs.summarise(
        [dict(method='a', seed=s, top1=v, wall_s=1.0) for s, v in ((0, 80.0), (1, 84.0))] +
        [dict(method='b', seed=s, top1=v, wall_s=1.0) for s, v in ((0, 79.0), (1, 84.0))],
        90.0, ['a', 'b'], 'top1')
    (note, ) = study_runs.comparison_notes(close, dict(a='A', b='B'), [('a', 'b')], 'top1', 'x')
    assert note.startswith('- A beats (by less than one seed standard deviation) B: +0.50 x')


def test_summary_table_rows():
    summary = study_runs.summarise(RESULTS, 90.0, ['alone', 'kd'], 'top1')
    lines = study_runs.summary_table(summary, NAMES, 'top1', 'top-1')
    assert lines[2] == '| student alone | 2 | 81.00 | 1.41 | 0% | 80.00, 82.00 | 11 |'
    assert lines[3] == '| KD | 2 | 85.00 | 1.41 | 44% | 84.00, 86.00 | 21 |'


def test_run_cached_scales_the_logged_metric_and_caches(tmp_path, monkeypatch):
    """A COCO mAP logged as 0.2517 is reported as 25.17 with scale 100 (det_quality), a
    second call reads the cached result without training."""
    trained = []

    def fake_train(args, log_path, threads, append=False):  # writes what mmengine's
        # LocalVisBackend does
        run_dir = args[args.index('--work-dir') + 1]
        trained.append(run_dir)
        vis = osp.join(run_dir, '20260101_000000', 'vis_data')
        os.makedirs(vis)
        with open(osp.join(vis, 'scalars.json'), 'w') as f:
            f.write(json.dumps({'coco/bbox_mAP': 0.1, 'step': 1}) + '\n')
            f.write(json.dumps({'coco/bbox_mAP': 0.2517, 'step': 2}) + '\n')
        return 3.0

    monkeypatch.setattr(study_runs, 'run_tool', fake_train)
    run_dir = str(tmp_path / 'tst_seed0')
    args = (run_dir, lambda: Config(dict(a=1)), 'tst', 0, 'coco/bbox_mAP', 'map', 1)
    result = study_runs.run_cached(*args, scale=100.0)
    assert result == {'method': 'tst', 'seed': 0, 'map': pytest.approx(25.17), 'wall_s': 3.0}
    assert study_runs.run_cached(*args, scale=100.0) == result and len(trained) == 1


def test_run_cached_restarts_an_interrupted_run_that_must_not_resume(tmp_path, monkeypatch):
    """An interrupted run continues with --resume, unless ``resumable=False``: then it is set
    aside and trained afresh (the search proxy scores x' at the start of its phase)."""
    launches = []

    def fake_train(args, log_path, threads, append=False):
        run_dir = args[args.index('--work-dir') + 1]
        launches.append(('--resume' in args, sorted(os.listdir(run_dir))))
        vis = osp.join(run_dir, '20260101_000000', 'vis_data')
        os.makedirs(vis, exist_ok=True)
        with open(osp.join(vis, 'scalars.json'), 'w') as f:
            f.write(json.dumps({'top1': 0.5, 'step': 1}) + '\n')
        return 1.0

    monkeypatch.setattr(study_runs, 'run_tool', fake_train)
    for name, resumable in (('again', True), ('afresh', False)):
        run_dir = str(tmp_path / f'{name}_seed0')
        make = lambda: Config(dict(a=1))  # noqa: E731
        os.makedirs(run_dir)  # an interrupted launch of this very config
        with open(osp.join(run_dir, study_runs.WANTED_CONFIG), 'w') as f:
            f.write(study_runs._wanted_config(make))
        for path in ('last_checkpoint', 'search_epoch_0_pass_3.pth'):
            open(osp.join(run_dir, path), 'w').close()
        study_runs.run_cached(run_dir, make, name, 0, 'top1', 'top1', 1, resumable=resumable)
    (resumed, kept), (fresh_resume, fresh_files) = launches
    assert resumed and 'search_epoch_0_pass_3.pth' in kept
    assert not fresh_resume and 'search_epoch_0_pass_3.pth' not in fresh_files
    assert os.path.isfile(str(tmp_path / 'afresh_seed0.stale1' / 'search_epoch_0_pass_3.pth'))


def test_a_lock_that_names_no_live_process_is_taken_over_once_old_enough(tmp_path,
                                                                         monkeypatch):
    """Lock files as a crash leaves them (empty, garbage, a dead process) do not block a run;
    one being written right now, or held by a live process, does."""
    def fake_train(args, log_path, threads, append=False):
        run_dir = args[args.index('--work-dir') + 1]
        assert (tmp_path / (osp.basename(run_dir) + '.lock')).read_text() == str(os.getpid())
        vis = osp.join(run_dir, '20260101_000000', 'vis_data')
        os.makedirs(vis)
        with open(osp.join(vis, 'scalars.json'), 'w') as f:
            f.write(json.dumps({'accuracy/top1': 90.0, 'step': 1}) + '\n')
        return 1.0

    monkeypatch.setattr(study_runs, 'run_tool', fake_train)
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    old = time.time() - study_runs.UNNAMED_LOCK_GRACE_S - 10
    for name, text, mtime in (('empty', '', old), ('garbage', 'x\x00', old), ('zero', '0', old),
                              ('dead', str(dead.pid), None)):
        lock = tmp_path / f'{name}_seed0.lock'
        lock.write_text(text)
        if mtime is not None:
            os.utime(lock, (mtime, mtime))
        result = study_runs.run_cached(str(tmp_path / f'{name}_seed0'), lambda: Config(dict(a=1)),
                                       name, 0, 'accuracy/top1', 'top1', 1)
        assert result['top1'] == 90.0 and not lock.exists()

    fresh = tmp_path / 'fresh_seed0.lock'
    fresh.write_text('')  # as another process's claim is being written
    with pytest.raises(study_runs.RunInProgress, match='names no process yet'):
        study_runs.run_cached(str(tmp_path / 'fresh_seed0'), lambda: Config(dict(a=1)), 'fresh',
                              0, 'accuracy/top1', 'top1', 1)
    live = tmp_path / 'live_seed0.lock'
    live.write_text(str(os.getppid()))
    os.utime(live, (old, old))
    with pytest.raises(study_runs.RunInProgress, match=f'by process {os.getppid()}$'):
        study_runs.run_cached(str(tmp_path / 'live_seed0'), lambda: Config(dict(a=1)), 'live',
                              0, 'accuracy/top1', 'top1', 1)
    assert fresh.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if 'lock' in p.name) == [
        'fresh_seed0.lock', 'live_seed0.lock']  # nothing of this process's claims is left


def test_two_claims_that_both_find_a_lock_stale_do_not_both_take_it(tmp_path, monkeypatch):
    """Two threads race for a run whose lock names a dead process, and both would judge it
    stale; the one judging last removes the lock late (as a slower process would). One claim
    takes the lock, the other is told the run is in progress; without the claim guard the late
    one removed the other's fresh claim and both trained."""
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    run_dir = str(tmp_path / 'tst_seed0')
    lock = tmp_path / 'tst_seed0.lock'
    lock.write_text(str(dead.pid))
    judge = study_runs._lock_owner
    both_judged = threading.Barrier(2)

    def judged_owner(path):
        owner = judge(path)
        try:  # both judge before either acts, where nothing keeps them apart
            both_judged.wait(timeout=1.0)
        except threading.BrokenBarrierError:
            pass
        if threading.current_thread().name == 'late':
            time.sleep(0.3)
        return owner

    monkeypatch.setattr(study_runs, '_lock_owner', judged_owner)
    outcomes = {}

    def claim():
        try:
            outcomes[threading.current_thread().name] = study_runs._claim(run_dir)
        except study_runs.RunInProgress as err:
            outcomes[threading.current_thread().name] = err

    threads = [threading.Thread(target=claim, name=name) for name in ('early', 'late')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [name for name, outcome in outcomes.items() if outcome == str(lock)]
    assert len(taken) == 1, outcomes
    refused = outcomes[{'early': 'late', 'late': 'early'}[taken[0]]]
    assert isinstance(refused, study_runs.RunInProgress)
    assert f'by process {os.getpid()}' in str(refused)
    assert lock.read_text() == str(os.getpid())
    assert sorted(p.name for p in tmp_path.iterdir()) == ['tst_seed0.lock']


def test_coco_metric_logs_map_in_unit_interval_and_iou_metric_in_percent(scenes_root,
                                                                        tmp_path):
    """The studies' scales rest on this: perfect boxes give bbox_mAP 1.0, perfect label maps
    give mIoU 100.0."""
    from mmdet.evaluation import CocoMetric
    from mmseg.evaluation import IoUMetric
    ann_file = osp.join(scenes_root, 'coco', 'annotations', 'instances_val.json')
    with open(ann_file) as f:
        coco = json.load(f)
    cat_ids = [cat['id'] for cat in coco['categories']]
    metric = CocoMetric(ann_file=ann_file, metric='bbox', outfile_prefix=str(tmp_path / 'c'))
    metric.dataset_meta = dict(classes=[cat['name'] for cat in coco['categories']])
    samples = []
    for image in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)],
                             dtype=torch.float32).reshape(-1, 4)
        samples.append(dict(img_id=image['id'], ori_shape=(image['height'], image['width']),
                            pred_instances=dict(
                                bboxes=boxes, scores=torch.ones(len(anns)),
                                labels=torch.tensor([cat_ids.index(a['category_id'])
                                                     for a in anns]))))
    metric.process({}, samples)
    assert metric.compute_metrics(metric.results)['bbox_mAP'] == pytest.approx(1.0)

    iou = IoUMetric()
    iou.dataset_meta = dict(classes=('a', 'b', 'c'))
    labels = torch.from_numpy(np.random.default_rng(0).integers(0, 3, (1, 8, 8)))
    iou.process({}, [dict(pred_sem_seg=dict(data=labels), gt_sem_seg=dict(data=labels))])
    assert iou.compute_metrics(iou.results)['mIoU'] == pytest.approx(100.0)


def test_pack_cache_keeps_what_a_study_still_needs(tmp_path):
    """Logs and results of every run and of the teachers; the teachers' final checkpoints
    (the scenes' teachers inside their studies), the checkpoint an unfinished run resumes from
    and the proxy's start checkpoints; no finished run's checkpoints, no locks."""
    pack = load_script('benchmarks/pack_cache.py')
    files = {
        'teacher_crop-flip_15e/epoch_15.pth': '',
        'teacher_crop-flip_15e/epoch_14.pth': '',
        'teacher_crop-flip_15e/20260101_000000/vis_data/scalars.json': '',
        'cls_quality_patient/kd_seed0/result.json': '{}',
        'cls_quality_patient/kd_seed0/epoch_80.pth': '',
        'cls_quality_patient/kd_seed0/last_checkpoint': '/x/kd_seed0/epoch_80.pth',
        'cls_quality_patient/kd_seed0/20260101_000000/vis_data/scalars.json': '',
        'cls_quality_patient/tst_seed1/epoch_30.pth': '',
        'cls_quality_patient/tst_seed1/search_epoch_30_pass_10.pth': '',
        'cls_quality_patient/tst_seed1/last_checkpoint': '/x/tst_seed1/search_epoch_30_pass_10.pth',
        'cls_quality_patient/tst_seed1/train.log': '',
        'cls_quality_patient/tst_seed1.lock': '123',
        'search_proxy/start_seed0/result.json': '{}',
        'search_proxy/start_seed0/epoch_10.pth': '',
        'search_proxy/start_seed0/last_checkpoint': '/x/start_seed0/epoch_10.pth',
        'search_proxy/paper_seed0/result.json': '{}',
        'search_proxy/paper_seed0/epoch_1.pth': '',
        'search_proxy/paper_seed0/proxy.json': '{}',
        'teacher_demo_2e/epoch_2.pth': '',
        'teacher_demo_2e/epoch_1.pth': '',
        'teacher_demo_2e/train.log': '',
        'cls_quality/kd_seed0/result.json': '{}',
        'cls_quality/kd_seed0/epoch_4.pth': '',
        'det_quality/teacher/iter_3000.pth': '',
        'det_quality/teacher/last_checkpoint': '/x/teacher/iter_3000.pth',
        'det_quality/teacher/train.log': '',
        'det_quality/kd_seed0/result.json': '{}',
        'det_quality/kd_seed0/iter_1500.pth': '',
        'det_quality/make_scenes.log': '',
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert list(pack.cache_members(str(tmp_path))) == [
        'cls_quality/kd_seed0/result.json',
        'cls_quality_patient/kd_seed0/20260101_000000/vis_data/scalars.json',
        'cls_quality_patient/kd_seed0/last_checkpoint',
        'cls_quality_patient/kd_seed0/result.json',
        'cls_quality_patient/tst_seed1/last_checkpoint',
        'cls_quality_patient/tst_seed1/search_epoch_30_pass_10.pth',
        'cls_quality_patient/tst_seed1/train.log',
        'det_quality/kd_seed0/result.json',
        'det_quality/make_scenes.log',
        'det_quality/teacher/iter_3000.pth',
        'det_quality/teacher/last_checkpoint',
        'det_quality/teacher/train.log',
        'search_proxy/paper_seed0/proxy.json',
        'search_proxy/paper_seed0/result.json',
        'search_proxy/start_seed0/epoch_10.pth',
        'search_proxy/start_seed0/last_checkpoint',
        'search_proxy/start_seed0/result.json',
        'teacher_crop-flip_15e/20260101_000000/vis_data/scalars.json',
        'teacher_crop-flip_15e/epoch_15.pth',
        'teacher_demo_2e/epoch_2.pth',
        'teacher_demo_2e/train.log',
    ]
