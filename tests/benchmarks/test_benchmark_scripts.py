"""The benchmark entry points run end to end at toy sizes and write what they promise."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from tst_testing import ROOT, load_script, run_tool, run_tool_expecting_failure


@pytest.mark.slow
def test_cls_quality_study_writes_tables_and_caches_runs(tmp_path, fashion_mnist_root,
                                                         fashion_teacher_ckpt):
    work_dir, out = tmp_path / 'runs', tmp_path / 'results'
    args = ['benchmarks/cls_quality.py', '--seeds', '0', '1', '--methods', 'alone', 'kd', 'tst',
            '--epochs', '1', '--subset', '128', '--val-subset', '64', '--jobs', '2',
            '--data-root', fashion_mnist_root, '--teacher-ckpt', fashion_teacher_ckpt,
            '--work-dir', str(work_dir), '--out', str(out)]
    run_tool(*args)
    with open(out / 'cls_quality.json') as f:
        report = json.load(f)
    summary = report['summary']
    assert set(summary) == {'alone', 'kd', 'tst'}
    for row in summary.values():
        assert row['n'] == 2 and row['seeds'] == [0, 1]
        assert all(0.0 <= top1 <= 100.0 for top1 in row['top1'])
    assert summary['alone']['gap_closed'] == pytest.approx(0.0, abs=1e-9)
    table = (out / 'cls_quality.md').read_text()
    assert 'TST, exact ops' in table and 'Command: `python benchmarks/cls_quality.py' in table
    assert (out / 'cls_quality_policy.png').stat().st_size > 0
    assert (out / 'cls_quality_final_policy.png').stat().st_size > 0
    # the TST runs searched: their policy left its initial values
    with open(work_dir / 'tst_seed0' / 'tst_policy.jsonl') as f:
        final = json.loads(f.readlines()[-1])['policy']
    assert any(abs(entry['probability'] - 0.5) > 1e-4 for entry in final.values())

    # finished runs are cached: a second invocation trains nothing and reports the same
    result_file = work_dir / 'kd_seed1' / 'result.json'
    stamp = os.stat(result_file).st_mtime_ns
    run_tool(*args)
    assert os.stat(result_file).st_mtime_ns == stamp
    with open(out / 'cls_quality.json') as f:
        assert json.load(f)['summary'] == summary


@pytest.mark.slow
def test_cls_quality_patient_preset_pairs_seeds_logs_diagnostics_and_reruns_stale_runs(
        tmp_path, fashion_mnist_root, fashion_teacher_ckpt, monkeypatch):
    work_dir, out = tmp_path / 'runs', tmp_path / 'results'
    common = ['benchmarks/cls_quality.py', '--preset', 'patient', '--seeds', '0',
              '--subset', '128', '--val-subset', '64', '--jobs', '2',
              '--data-root', fashion_mnist_root, '--teacher-ckpt', fashion_teacher_ckpt,
              '--work-dir', str(work_dir), '--out', str(out)]
    args = [*common, '--epochs', '2', '--methods', 'alone', 'kd', 'kd_2view', 'tst_filter']
    run_tool(*args)
    with open(out / 'cls_quality_patient.json') as f:
        report = json.load(f)
    assert list(report['summary']) == ['alone', 'kd', 'kd_2view', 'tst_filter']
    pairs = {(p['method'], p['baseline']): p for p in report['paired']}
    assert set(pairs) == {('tst_filter', 'kd'), ('tst_filter', 'kd_2view'),
                          ('kd_2view', 'kd'), ('kd', 'alone')}
    top1 = {m: row['top1'][0] for m, row in report['summary'].items()}
    assert pairs[('tst_filter', 'kd')]['diffs'] == [pytest.approx(top1['tst_filter']
                                                                  - top1['kd'])]
    diag = report['diagnostics']
    assert all(0.0 <= d['train_top1'] <= 100.0 for d in diag.values())
    tst = diag['tst_filter_seed0']
    # 10-pass phases before 12.5% and 37.5% of the 2 epochs: epochs 0 and 1
    assert [phase['epoch'] for phase in tst['search_phases']] == [0, 1]
    assert all(len(phase['lr']) == 10 for phase in tst['search_phases'])
    assert all(phase['lr'][0] == pytest.approx(0.01) for phase in tst['search_phases'])
    assert 0.0 <= tst['dropped_aug']['first_epoch'] <= 1.0
    assert tst['dropped_aug']['first_epoch'] == pytest.approx(
        1.0 - tst['teacher_top1_aug']['first_epoch'], abs=1e-6)
    assert len(tst['policy_moved']) == 2 and tst['policy_moved'][0]['moved'] > 0
    # the phases before epochs 1 and 2 split the x' diagnostics: nothing, epoch 1, epoch 2
    assert tst['student_top1_aug']['segments'] == [
        None, pytest.approx(tst['student_top1_aug']['first_epoch']),
        pytest.approx(tst['student_top1_aug']['last_epoch'])]
    two_view = (work_dir / 'kd_2view_seed0' / 'config.py').read_text()
    assert 'RepeatedViewsSampler' in two_view and 'batch_size=256' in two_view
    table = (out / 'cls_quality_patient.md').read_text()
    assert 'Paired differences' in table and 'Regime checks' in table
    assert (out / 'cls_quality_patient_final_policy.png').stat().st_size > 0
    # the x' figure draws each epoch's logged accuracies (one seed: the mean is the run's)
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))  # the script's own helpers
    study = load_script('benchmarks/cls_quality.py')
    curves = study.plot_x_prime_accuracy(
        [dict(method=m, seed=0) for m in report['summary']], study.parse_args(args[1:]),
        [0, 1], str(tmp_path / 'x_prime.png'))
    assert list(curves) == ['tst_filter'] and (out / 'cls_quality_patient_x_prime.png').is_file()
    assert len(curves['tst_filter']['teacher']) == 2
    assert curves['tst_filter']['teacher'][0] == pytest.approx(
        100 * tst['teacher_top1_aug']['first_epoch'])
    assert curves['tst_filter']['student'][-1] == pytest.approx(
        100 * tst['student_top1_aug']['last_epoch'])

    # the same study again: every run is reused as it is
    result_file = work_dir / 'kd_seed0' / 'result.json'
    stamp = os.stat(result_file).st_mtime_ns
    run_tool(*args)
    assert os.stat(result_file).st_mtime_ns == stamp
    # another regime: the kd run's config differs, so it is set aside and run again
    run_tool(*common, '--epochs', '1', '--methods', 'kd')
    assert (work_dir / 'kd_seed0.stale1' / 'result.json').is_file()
    assert 'max_epochs=1' in (work_dir / 'kd_seed0' / 'config.py').read_text()
    with open(out / 'cls_quality_patient.json') as f:
        assert json.load(f)['settings']['epochs'] == 1


@pytest.mark.slow
def test_step_cost_writes_ratios_and_search_shares(tmp_path, fashion_mnist_root):
    run_tool('benchmarks/step_cost.py', '--batch-sizes', '4', '--image-sizes', '28', '32',
             '--rounds', '1', '--data-root', fashion_mnist_root, '--device', 'cpu',
             '--out-dir', str(tmp_path))
    with open(osp.join(tmp_path, 'step_cost.json')) as f:
        report = json.load(f)
    assert [(r['batch_size'], r['image_size']) for r in report['rows']] == [(4, 28), (4, 32)]
    for row in report['rows']:
        assert all(seconds > 0 for seconds in row['seconds'].values())
    shares = {s['config']: s for s in report['search_shares']}
    resnet18 = shares['configs/tst/resnet34_resnet18_in1k.py']
    assert (resnet18['search'], resnet18['search_unit']) == (10, 'passes')
    assert all(0.0 < s['share'] < 1.0 for s in shares.values())
    assert '| B | px |' in (tmp_path / 'step_cost.md').read_text()


@pytest.mark.slow
def test_step_cost_times_the_detection_pair_at_its_config_size(tmp_path, scenes_root):
    run_tool('benchmarks/step_cost.py', '--task', 'scenes-faster-rcnn', '--batch-sizes', '2',
             '--rounds', '1', '--data-root', scenes_root, '--device', 'cpu',
             '--out-dir', str(tmp_path))
    with open(osp.join(tmp_path, 'step_cost_scenes-faster-rcnn.json')) as f:
        report = json.load(f)
    (row, ) = report['rows']
    # the demo config resizes the 96 px scenes to 128 px
    assert (row['batch_size'], row['image_size']) == (2, 128)
    assert all(seconds > 0 for seconds in row['seconds'].values())
    shares = {s['config']: s for s in report['search_shares']}
    faster_rcnn = shares['configs/tst/faster-rcnn_r101_r50_coco.py']
    assert (faster_rcnn['length'], faster_rcnn['search']) == (24, 2)
    assert not (tmp_path / 'step_cost.md').exists()


def test_step_cost_refuses_to_resize_the_scenes():
    message = run_tool_expecting_failure('benchmarks/step_cost.py', '--task', 'scenes-pspnet',
                                         '--image-sizes', '64')
    assert '--image-sizes resizes Fashion-MNIST only' in message


def test_segment_means_split_the_epochs_at_the_search_phases(monkeypatch):
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))  # the script's own helpers
    study = load_script('benchmarks/cls_quality.py')
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert study.segment_means(values, [2, 3]) == [1.5, 3.0, 5.0]
    assert study.segment_means(values, [0, 6]) == [None, 3.5, None]


def test_teacher_top1_comes_from_its_test_run_when_no_training_log_came(monkeypatch,
                                                                        tmp_path):
    """A cache that holds only the teacher's checkpoint: the study reads the top-1 of
    ``tools/test.py``'s metrics file, the newest test run's, and not a training log's."""
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))  # the script's own helpers
    study = load_script('benchmarks/cls_quality.py')
    assert study.tested_top1(str(tmp_path)) is None
    for stamp, lines in (('20260101_000000', [{'accuracy/top1': 93.0}]),
                         ('20260102_000000', [{'accuracy/top1': 94.0}]),
                         ('20260103_000000', [{'accuracy/top1': 95.0, 'step': 1},
                                              {'accuracy/top1': 96.0, 'step': 2}])):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / f'{stamp}.json').write_text(
            ''.join(json.dumps(line) + '\n' for line in lines))
    assert study.tested_top1(str(tmp_path)) == 94.0


def _patient_variant_configs(monkeypatch, variant: str):
    """The patient study's study module and the configs of TST and the untrained-policy
    control with a method ``variant`` (a suffix such as ``'_m03'``), and of plain TST."""
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))  # the script's own helpers
    study = load_script('benchmarks/cls_quality.py')
    args = study.parse_args(['--preset', 'patient'])
    tst, control, default = (study.patient_config(method, 0, args, 'teacher.pth')
                             for method in (f'tst{variant}', f'kd_random{variant}', 'tst'))
    # the variant changes the augmenter only: TST searches, the control never does
    assert tst.train_cfg.search_epochs == default.train_cfg.search_epochs != []
    assert control.train_cfg.search_epochs == [] and control.model.augment_ratio > 0
    return study, tst, control, default


@pytest.mark.parametrize('variant, magnitude', [('_m03', 0.3), ('_m07', 0.7)])
def test_patient_magnitude_methods_start_the_policy_at_their_magnitude(
        mmpretrain_scope, monkeypatch, variant, magnitude):
    import tst_mm  # noqa: F401
    from tst_mm.registry import MODELS
    _, tst, control, default = _patient_variant_configs(monkeypatch, variant)
    for cfg in (tst, control):
        augmenter = MODELS.build(cfg.model.augmenter)
        assert augmenter.magnitudes().tolist() == pytest.approx(
            [magnitude] * len(augmenter.magnitude_op_names), abs=1e-5)
    assert MODELS.build(default.model.augmenter).magnitudes().tolist() == pytest.approx(
        [0.5] * len(augmenter.magnitude_op_names))


def test_patient_no_invert_methods_leave_only_invert_out_of_the_pool(mmpretrain_scope,
                                                                     monkeypatch):
    import tst_mm  # noqa: F401
    from tst_mm.registry import MODELS
    study, tst, control, default = _patient_variant_configs(monkeypatch, '_noinvert')
    pool = MODELS.build(default.model.augmenter).op_names
    for cfg in (tst, control):
        assert MODELS.build(cfg.model.augmenter).op_names == [op for op in pool if op != 'invert']
    assert 'tst_noinvert' not in study.method_names('short')


def test_patient_objective_methods_change_only_the_search_objective(mmpretrain_scope,
                                                                     monkeypatch):
    import tst_mm  # noqa: F401
    from tst_mm.registry import MODELS
    from tst_mm.search_objectives import PaperSearchObjective, TeacherGatedObjective
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))
    study = load_script('benchmarks/cls_quality.py')
    args = study.parse_args(['--preset', 'patient'])
    default = study.patient_config('tst', 0, args, 'teacher.pth')
    gated = study.patient_config('tst_gated_l3', 0, args, 'teacher.pth')
    heavier = study.patient_config('tst_paper_t3', 0, args, 'teacher.pth')
    assert 'search_objective' not in default.model  # cached tst runs keep their config
    objectives = {}
    for method, cfg in (('tst_gated_l3', gated), ('tst_paper_t3', heavier)):
        objectives[method] = MODELS.build(cfg.model.pop('search_objective'))
        assert cfg.pretty_text == default.pretty_text  # nothing else differs
    assert isinstance(objectives['tst_gated_l3'], TeacherGatedObjective)
    assert objectives['tst_gated_l3'].hinge_weight == 3.0
    assert isinstance(objectives['tst_paper_t3'], PaperSearchObjective)
    assert objectives['tst_paper_t3'].teacher_weight == 3.0
    assert ('tst_gated_l3', 'kd_random') in study.PAIRS
    assert 'tst_gated' not in study.method_names('short')
    assert 'tst_paper' not in study.METHODS  # the paper's objective is plain tst


@pytest.mark.slow
def test_teacher_on_augmented_scores_the_loaded_teacher_per_op(mmpretrain_scope, fashion_mnist_root,
                                                               fashion_teacher_ckpt):
    import torch
    from mmengine.runner import Runner
    from mmpretrain.apis import init_model
    probe = load_script('benchmarks/teacher_on_augmented.py')
    data = [f'train_dataloader.dataset.data_root={fashion_mnist_root}',
            'train_dataloader.dataset.indices=256']
    results = probe.main(['configs/demo/tst_fashion-mnist.py', '--magnitudes', '0.5',
                          '--passes', '1', '--per-op', '--cfg-options',
                          f'model.teacher_ckpt={fashion_teacher_ckpt}', *data])
    on_augmented, on_clean = results['mixed'][0.5]

    # the checkpoint's teacher, loaded the stock mmpretrain way, scores the same clean images
    teacher = init_model('configs/demo/resnet18-tiny_fashion-mnist.py', fashion_teacher_ckpt)
    cfg = probe.Config.fromfile('configs/demo/tst_fashion-mnist.py')
    cfg.train_dataloader.dataset.update(data_root=fashion_mnist_root, indices=256)
    right = total = 0
    with torch.no_grad():
        for batch in Runner.build_dataloader(cfg.train_dataloader, seed=0):
            batch = teacher.data_preprocessor(batch, False)
            labels = torch.cat([s.gt_label for s in batch['data_samples']])
            right += int((teacher(batch['inputs'], mode='tensor').argmax(1) == labels).sum())
            total += labels.numel()
    assert on_clean == pytest.approx(100.0 * right / total)

    assert set(results['per_op']) == set(probe.MODELS.build(
        dict(type='tst_mm.LearnableAugmenter')).op_names)
    assert all(0.0 <= top1[0.5] <= 100.0 for top1 in results['per_op'].values())
    assert 0.0 <= on_augmented <= 100.0
    # each op alone changes what the teacher sees: inverting every image changes its answers
    assert results['per_op']['invert'][0.5] != pytest.approx(on_clean, abs=1.0)


def test_final_policy_figure_draws_only_the_runs_the_tables_count(tmp_path, monkeypatch):
    """A finished run dir left from another regime (its config is not the one asked for) is
    neither tabulated nor drawn."""
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))  # the script's own helpers
    study = load_script('benchmarks/cls_quality.py')
    teacher = tmp_path / 'teacher' / 'epoch_15.pth'
    (teacher.parent / '20260101_000000' / 'vis_data').mkdir(parents=True)
    teacher.write_bytes(b'')
    (teacher.parent / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
        json.dumps({'accuracy/top1': 94.0, 'step': 15}) + '\n')
    common = ['--preset', 'patient', '--methods', 'tst_positive', '--teacher-ckpt', str(teacher),
              '--work-dir', str(tmp_path / 'runs'), '--out', str(tmp_path / 'results')]
    policy = {op: {'probability': 0.5, 'magnitude': 0.5} for op in ('rotate', 'invert')}
    for seed, epochs in ((0, 80), (1, 40)):  # seed 1 was run with 40 epochs, not the 80 asked
        args = study.parse_args([*common, '--seeds', str(seed), '--epochs', str(epochs)])
        run_dir = tmp_path / 'runs' / f'tst_positive_seed{seed}'
        run_dir.mkdir(parents=True)
        (run_dir / 'config.wanted.py').write_text(
            study.method_config('tst_positive', seed, args, str(teacher), None).pretty_text)
        (run_dir / 'result.json').write_text(json.dumps(
            dict(method='tst_positive', seed=seed, top1=90.0, wall_s=1.0)))
        (run_dir / 'tst_policy.jsonl').write_text(''.join(
            json.dumps(dict(search_iter=i, epoch=10 * i, iter=0, policy=policy, losses={}))
            + '\n' for i in (0, 1)))
    drawn = {}
    monkeypatch.setattr(study, 'plot_final_policies',
                        lambda run_dirs, out: drawn.update(run_dirs))
    study.main([*common, '--seeds', '0', '1', '--cached-only'])
    with open(tmp_path / 'results' / 'cls_quality_patient.json') as f:
        report = json.load(f)
    assert report['summary']['tst_positive']['seeds'] == [0]
    assert report['missing'] == ['tst_positive seed 1']
    assert drawn == {'tst_positive': [str(tmp_path / 'runs' / 'tst_positive_seed0')]}


@pytest.mark.slow
def test_search_proxy_scores_x_prime_before_and_after_one_phase(tmp_path, fashion_mnist_root,
                                                               fashion_teacher_ckpt):
    out, work = tmp_path / 'out', tmp_path / 'work'
    common = ['benchmarks/search_proxy.py', '--seeds', '0', '1', '--settings', 'paper', 'gated',
              '--epochs', '8', '--subset', '128', '--val-subset', '64', '--passes', '1',
              '--images', '64', '--draws', '2', '--jobs', '2', '--data-root',
              fashion_mnist_root, '--teacher-ckpt', fashion_teacher_ckpt, '--work-dir',
              str(work), '--out', str(out)]
    run_tool(*common)
    report = json.loads((out / 'search_proxy.json').read_text())
    assert [(s['seed'], s['top1'] > 0) for s in report['starts']] == [(0, True), (1, True)]
    runs = {(r['method'], r['seed']): r for r in report['runs']}
    assert set(runs) == {('paper', 0), ('gated', 0), ('paper', 1), ('gated', 1)}
    for seed in (0, 1):  # every setting starts from the same student, policy and draws
        assert runs['paper', seed]['before'] == runs['gated', seed]['before']
    for run in runs.values():
        scores = run['after']
        assert 0 <= scores['trsw'] <= scores['teacher_top1'] <= 1
        assert scores['trsw'] + scores['both_wrong'] == pytest.approx(
            1 - scores['student_top1'])
        assert run['moved'] > 0  # the phase changed the policy
    summary = report['summary']
    gated = summary['gated']
    assert gated['trsw']['change'] == pytest.approx(
        (runs['gated', 0]['after']['trsw'] - runs['gated', 0]['before']['trsw']
         + runs['gated', 1]['after']['trsw'] - runs['gated', 1]['before']['trsw']) / 2)
    assert gated['kept'] == (gated['trsw']['change'] > 0 and
                             100 * gated['teacher_top1']['change'] >= -0.5)
    assert (out / 'search_proxy.png').stat().st_size > 0
    assert '| gated |' in (out / 'search_proxy.md').read_text()
    # a second call trains nothing: every run is cached
    again = run_tool(*common, '--cached-only').stdout
    assert 'Not run' not in again
    assert json.loads((out / 'search_proxy.json').read_text())['summary'] == summary
    for run in runs.values():  # the candidate proxies, scored by the hook
        assert run['before']['heldout_gain_kd'] == pytest.approx(
            runs[run['method'], run['seed']]['after']['heldout_gain_kd'])  # same student
        assert 0 < run['after']['teacher_py_std'] < 0.5
    assert '| paper | 2 |' in (out / 'search_proxy.md').read_text()  # candidate proxies

    # a run cached before the candidate proxies is scored afterwards to the same values
    run_dir = work / 'paper_seed1'
    proxy = json.loads((run_dir / 'proxy.json').read_text())
    logged = {when: {key: proxy[when]['scores'].pop(key) for key in
                     ('teacher_py_std', 'heldout_gain', 'heldout_gain_kd')}
              for when in ('before', 'after')}
    (run_dir / 'proxy.json').write_text(json.dumps(proxy))
    run_tool(*common, '--cached-only', '--rescore')
    rescored = json.loads((run_dir / 'proxy_extra.json').read_text())
    for when, scores in logged.items():
        for key, value in scores.items():  # the policy went through JSON: not bit for bit
            assert rescored[when][key] == pytest.approx(value, rel=1e-3, abs=1e-6), key

    # the probe of one virtual step on seen and unseen held-out images, for a finished run
    run_tool('benchmarks/lookahead_probe.py', '--runs', 'paper_seed0', '--work-dir', str(work),
             '--images', '64', '--out', str(out))
    probe = json.loads((out / 'lookahead_probe.json').read_text())['results']['paper_seed0']
    assert probe['x_prime_weight'] is None  # the paper's objective learns no weight of x'
    for policy in ('untrained', 'searched'):
        for source in ('seen', 'unseen'):
            assert all(np.isfinite(v) for v in probe[policy][source].values())
    # plain KD's step does not depend on the policy
    assert probe['untrained']['seen']['kd'] == pytest.approx(probe['searched']['seen']['kd'])


@pytest.mark.parametrize('preset', ['short', 'patient'])
def test_lookahead_selection_and_mixing_methods_change_only_their_keys(mmpretrain_scope,
                                                                     monkeypatch, preset):
    """The lookahead, best-of-2, mixing and weight-0 methods differ from their base method
    (``tst``, ``kd_random``) only in their own keys, and each builds."""
    import tst_mm  # noqa: F401
    from tst_mm.registry import MODELS
    from tst_mm.search_objectives import StudentLookahead
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))
    study = load_script('benchmarks/cls_quality.py')
    args = study.parse_args(['--preset', preset])

    def config(method):
        return study.method_config(method, 0, args, 'teacher.pth', None)

    own_keys = {
        'tst_lookahead': ('tst', [('model', 'search_objective'),
                                  ('model', 'augmenter', 'learn_x_prime_weight'),
                                  ('optim_wrapper', 'augmenter', 'optimizer'),
                                  ('train_cfg', 'search_optim')]),
        'kd_random_bestof2': ('kd_random', [('model', 'x_prime_selection')]),
        'kd_random_mix': ('kd_random', [('model', 'augmenter', 'ops')]),
        'kd_random_w0': ('kd_random', [('model', 'augmenter', 'learn_x_prime_weight'),
                                       ('model', 'augmenter', 'init_x_prime_weight')]),
    }
    for method, (base, keys) in own_keys.items():
        assert method in study.method_names(preset)
        cfg, reference = config(method), config(base)
        for key in keys:
            parent = cfg
            for part in key[:-1]:
                parent = parent[part]
            value = parent.pop(key[-1])
            ref_parent = reference
            for part in key[:-1]:
                ref_parent = ref_parent[part]
            ref_parent.pop(key[-1], None)
            if key[-1] == 'search_objective':
                assert isinstance(MODELS.build(value), StudentLookahead)
                assert value['estimator'] == 'exact'
        assert cfg.pretty_text == reference.pretty_text, method
        built = config(method)
        MODELS.build(built.model)  # builds: the keys are the ones the code takes
    online = config('tst_lookahead_online')
    assert online.train_cfg.search_epochs == [] and online.train_cfg.online == dict(
        interval=study.LOOKAHEAD_ONLINE_INTERVAL, steps=1)
    assert ('tst_lookahead', 'kd') in study.PAIRS and ('kd_random_mix', 'kd') in study.PAIRS
    weightless = MODELS.build(config('kd_random_w0').model).augmenter.x_prime_weight()
    assert 0.0 < float(weightless) < 1e-12
