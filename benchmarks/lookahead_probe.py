"""Does one distillation step on ``[x'; x]`` teach more than one on ``[x; x]``? A probe.

    python benchmarks/lookahead_probe.py [--runs lookahead_seed0 ...] [--images 1000]

``tst_mm.StudentLookahead`` moves the policy by what one virtual SGD step of the student
teaches on held-out images. This probe asks that question of a finished search-proxy run
(``benchmarks/search_proxy.py``; its student is the patient study's epoch-10 student), for the
untrained policy the run started from and the policy it ended with (its learned weight of
``x'`` included, read from its last search checkpoint): the fall of the run's distillation
loss after one virtual step at the student's lr (0.1) on ``[x'; x]`` of the first half of
each batch of 250 training-subset images, against the same step on ``[x; x]`` (plain KD), on
two held-out sets: the second half of each batch (**seen**: images of the student's own
training subset, which the lookahead uses) and as many Fashion-MNIST training images outside
that subset (**unseen**: images the student never trained on). Writes
``benchmarks/results/lookahead_probe.{md,json}``.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
from datetime import date
from typing import Dict, List, Optional

import numpy as np
import search_proxy
import torch
from search_proxy_hook import _virtual_gain
from study_runs import ROOT

#: The first image index of the unseen held-out set (the patient subset is images 0-2499).
UNSEEN_START = 30000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', nargs='+', default=['lookahead_seed0'],
                        help='search-proxy run dirs (under --work-dir)')
    parser.add_argument('--work-dir', default='work_dirs/bench/search_proxy')
    parser.add_argument('--images', type=int, default=1000, help='images per held-out set')
    parser.add_argument('--out', default='benchmarks/results')
    parser.add_argument('--name', default='lookahead_probe')
    return parser.parse_args(argv)


def _distiller(run_dir: str):
    """The run's distiller at its start checkpoint, its proxy hook's loader config and the
    student's lr."""
    distiller, cfg = search_proxy.run_distiller(run_dir)
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'SearchProxyHook')
    return distiller, hook['loader'], cfg.optim_wrapper.student.optimizer.lr


def _searched_policy(distiller, run_dir: str) -> None:
    """Give the augmenter the policy (and learned weight of x') the run's phase ended with."""
    from tst_mm.utils.checkpoint_file import load_checkpoint_file
    ckpt = sorted(f for f in os.listdir(run_dir) if f.startswith('search_epoch_'))[-1]
    state = load_checkpoint_file(osp.join(run_dir, ckpt), 'search checkpoint')
    augmenter = {key[len('augmenter.'):]: value for key, value in state['state_dict'].items()
                 if key.startswith('augmenter.')}
    distiller.augmenter.load_state_dict(augmenter, strict=False)


def gains(distiller, loaders: Dict[str, object], lr: float) -> Dict[str, Dict[str, float]]:
    """Mean held-out loss fall of one virtual step on [x'; x] and on [x; x], per held-out set."""
    from tst_mm.distill.virtual_step import build_virtual_step
    params = {name: p for name, p in distiller.student.named_parameters() if p.requires_grad}
    weight = distiller.augmenter.x_prime_weight()
    weight = None if weight is None else weight.detach()
    out = {}
    for source in ('seen', 'unseen'):
        values: Dict[str, List[float]] = {'x_prime': [], 'kd': []}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for train, heldout in zip(loaders['seen'], loaders[source]):
                train = distiller.data_preprocessor(train, True)
                heldout = distiller.data_preprocessor(heldout, True)
                half = train['inputs'].size(0) // 2
                x, samples = train['inputs'][:half], train['data_samples'][:half]
                h, h_samples = heldout['inputs'][half:], heldout['data_samples'][half:]
                with torch.no_grad():
                    aug, aug_samples = distiller.augmenter(x, copy.deepcopy(samples))
                for key, first, w in (('x_prime', (aug, aug_samples), weight),
                                      ('kd', (x, samples), None)):
                    step = build_virtual_step(
                        distiller.student, distiller.teacher, distiller.adapter,
                        distiller.distill_losses, params, lr, *first, x, samples, h, h_samples,
                        x_prime_weight=w)
                    values[key].append(_virtual_gain(step))
        out[source] = {key: float(np.mean(v)) for key, v in values.items()}
    return out


def main(argv: Optional[List[str]] = None) -> None:
    from mmengine.runner import Runner
    args = parse_args(argv)
    torch.set_num_threads(1)
    command = 'python benchmarks/lookahead_probe.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    results = {}
    for run in args.runs:
        run_dir = osp.join(ROOT, args.work_dir, run)
        distiller, loader_cfg, lr = _distiller(run_dir)
        loaders = {}
        for source, start in (('seen', 0), ('unseen', UNSEEN_START)):
            cfg = copy.deepcopy(loader_cfg)
            cfg['dataset']['indices'] = list(range(start, start + args.images))
            loaders[source] = Runner.build_dataloader(cfg, seed=0)
        results[run] = {'untrained': gains(distiller, loaders, lr)}
        _searched_policy(distiller, run_dir)
        weight = distiller.augmenter.x_prime_weight()
        results[run]['searched'] = gains(distiller, loaders, lr)
        results[run]['x_prime_weight'] = None if weight is None else float(weight)
        print(run, results[run], flush=True)
    lines = [f'One virtual distillation step: held-out loss fall (x 1e-3), {date.today()}.',
             f'Command: `{command}`. Start: the search-proxy runs\' epoch-10 patient students; '
             f'virtual step at lr 0.1 on [x\'; x] (or plain KD\'s [x; x]) of half of each '
             f'batch of 250 training-subset images; held out: the other half (seen) or '
             f'{args.images} training images outside the subset (unseen).', '',
             '| run | policy | x\' weight | seen: [x\'; x] | seen: [x; x] | unseen: [x\'; x] '
             '| unseen: [x; x] |', '|---|---|---|---|---|---|---|']
    for run, result in results.items():
        for policy in ('untrained', 'searched'):
            cells = result[policy]
            weight = 1.0 if policy == 'untrained' else result['x_prime_weight']
            lines.append(
                f'| {run} | {policy} | {"-" if weight is None else f"{weight:.2f}"} | '
                f'{1e3 * cells["seen"]["x_prime"]:.1f} | {1e3 * cells["seen"]["kd"]:.1f} | '
                f'{1e3 * cells["unseen"]["x_prime"]:.1f} | {1e3 * cells["unseen"]["kd"]:.1f} |')
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, f'{args.name}.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(osp.join(args.out, f'{args.name}.json'), 'w') as f:
        json.dump(dict(command=command, date=str(date.today()), results=results), f, indent=1)
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
