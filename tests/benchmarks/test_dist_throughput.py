"""benchmarks/dist_throughput.py: the timing hook's accounting and the table it writes
(the benchmark itself trains for minutes; it is smoke-tested by hand, see its docstring)."""
import argparse
import importlib.util
import json
import os.path as osp
import sys

import torch
from tst_testing import ROOT


def _load(name: str):
    path = osp.join(ROOT, 'benchmarks', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'bench_{name}', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load('dist_throughput')
hook_module = _load('throughput_hook')


def test_hook_times_steps_within_an_epoch_or_pass_after_warmup(tmp_path, monkeypatch):
    clock = iter(range(100))
    monkeypatch.setattr(hook_module.time, 'perf_counter', lambda: float(next(clock)))
    hook = hook_module.DistThroughputHook(out=str(tmp_path / 'out.json'), warmup=1)
    batch = dict(inputs=[torch.zeros(1, 4, 4)] * 8)
    hook.before_search_phase(None, epoch=0)
    for idx in range(4):  # t = 0, 1, 2, 3: 3 intervals, 1 dropped
        hook.after_search_iter(None, idx, batch)
    hook.after_search_phase(None, epoch=0)
    for _ in range(2):  # two epochs of 3 steps: 2 intervals each, the first one dropped
        hook.before_train_epoch(None)
        for idx in range(3):
            hook.after_train_iter(None, idx, batch)
    assert hook.stats['search'] == dict(steps=2, seconds=2.0, images=16, dropped=1)
    assert hook.stats['distill'] == dict(steps=3, seconds=3.0, images=24, dropped=1)
    hook.after_train(None)  # not distributed: rank 0, world size 1
    with open(tmp_path / 'out.json') as f:
        assert json.load(f)['world_size'] == 1


def test_table_has_header_speed_ups_and_untimed_cells(tmp_path):
    args = argparse.Namespace(out_dir=str(tmp_path), epochs=3, warmup=3, fashion_images=512,
                              fashion_batch=32, scenes_images=8, scenes_batch=2,
                              det_teacher_ckpt=None)

    def row(task, procs, distill, search):
        return dict(task=task, procs=procs, threads_per_proc=2 // procs,
                    distill=dict(steps=10, seconds=1.0, images_per_s=distill,
                                 seconds_per_step=0.1),
                    search=dict(steps=0 if search is None else 5, seconds=1.0,
                                images_per_s=search, seconds_per_step=0.2))

    rows = [row('fashion-mnist', 1, 100.0, 50.0), row('fashion-mnist', 2, 150.0, 90.0),
            row('scenes-faster-rcnn', 1, 4.0, 2.0), row('scenes-faster-rcnn', 2, 6.0, None)]
    bench.write_results(rows, args, 'python benchmarks/dist_throughput.py --x', 0.5)
    text = (tmp_path / 'dist_throughput.md').read_text()
    assert 'cores, torch ' in text and 'load average before the runs 0.50' in text
    assert 'Command: `python benchmarks/dist_throughput.py --x`' in text
    assert '| fashion-mnist | 32 | 2 | 1 | 150.0 | 1.50x | 90.0 | 1.80x | 10 / 5 |' in text
    assert '| scenes-faster-rcnn | 2 | 2 | 1 | 6.0 | 1.50x | - | - | 10 / 0 |' in text
    assert 'random weights' in text
    saved = json.loads((tmp_path / 'dist_throughput.json').read_text())
    assert saved['machine']['cores'] and saved['rows'][3]['search']['images_per_s'] is None
