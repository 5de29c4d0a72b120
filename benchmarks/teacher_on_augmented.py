"""How often does the teacher get x' right under an untrained policy? (A regime check.)

    python benchmarks/teacher_on_augmented.py configs/demo/tst_fashion-mnist_patient.py \
        --magnitudes 0.5 0.4 0.3 [--passes 3] [--per-op]

Builds the config's distiller (teacher loaded from ``model.teacher_ckpt``), sets every op
probability to ``--probability`` and every magnitude to each value given, augments the
config's training data (its own pipeline, e.g. crop + flip, then the augmenter, as a
distillation step does) ``--passes`` times, and prints the teacher's top-1 on x' and on x.
With ``--per-op`` it also applies each op of the pool alone (probability 1, every other op 0)
at each magnitude, to show which ops the teacher does not recognise.
TST's premise is that the teacher still recognises x': with a poor score, a third of the KD
targets on x' teach the wrong class before the search has done anything.
"""
import argparse
import copy

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tst_mm.registry import MODELS


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a classification TST config')
    parser.add_argument('--magnitudes', type=float, nargs='+', default=[0.5])
    parser.add_argument('--probability', type=float, default=0.5)
    parser.add_argument('--passes', type=int, default=3, help='passes over the training data')
    parser.add_argument('--per-op', action='store_true',
                        help='also apply each op alone (probability 1) at each magnitude')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(argv)


@torch.no_grad()
def teacher_top1(model, loader, passes: int, seed: int = 0) -> tuple:
    """Teacher top-1 (%) on x' and on x over ``passes`` passes of ``loader``."""
    torch.manual_seed(seed)
    right_aug = right = total = 0
    for _ in range(passes):
        for batch in loader:
            data = model.data_preprocessor(batch, True)
            inputs, samples = data['inputs'], data['data_samples']
            augmented, _ = model.augmenter(inputs, copy.deepcopy(samples))
            labels = torch.cat([s.gt_label for s in samples])
            for x, counter in ((augmented, 'aug'), (inputs, 'clean')):
                pred = model.teacher.head(model.teacher.extract_feat(x)).argmax(1)
                hits = int((pred == labels).sum())
                if counter == 'aug':
                    right_aug += hits
                else:
                    right += hits
            total += labels.numel()
    return 100.0 * right_aug / total, 100.0 * right / total


def policy_of(augmenter, probability: float, magnitude: float, only: str = None) -> dict:
    """A policy with every magnitude at ``magnitude``; every op at ``probability``, or, with
    ``only``, that op at probability 1 and every other op at 0."""
    return {op: {'probability': probability if only is None else float(op == only),
                 'magnitude': magnitude if op in augmenter.magnitude_op_names else None}
            for op in augmenter.op_names}


def main(argv=None) -> dict:
    """Print the teacher's top-1 on x' per magnitude (and per op with ``--per-op``).

    Returns:
        ``{'mixed': {magnitude: (top-1 on x', top-1 on x)}, 'per_op': {op: {magnitude:
        top-1 on x'}}}`` (``per_op`` empty without ``--per-op``).
    """
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    model.load_teacher()  # training loads it at its start; here nothing else would
    model.eval()
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    augmenter = model.augmenter
    num_ops = len(augmenter.op_names)
    results = {'mixed': {}, 'per_op': {}}
    for magnitude in args.magnitudes:
        augmenter.load_policy(policy_of(augmenter, args.probability, magnitude))
        aug, clean = results['mixed'][magnitude] = teacher_top1(model, loader, args.passes)
        print(f'magnitude {magnitude:.2f}, probability {args.probability:.2f} ({num_ops} ops, '
              f'{augmenter.num_ops} drawn per batch): teacher top-1 on x\' {aug:.2f}%, '
              f'on x {clean:.2f}%', flush=True)
    if not args.per_op:
        return results
    drawn, augmenter.num_ops = augmenter.num_ops, None  # the op alone, on every batch
    print('\n| op | ' + ' | '.join(f'm = {m:.2f}' for m in args.magnitudes) + ' |')
    print('|---|' + '---|' * len(args.magnitudes))
    for op in augmenter.op_names:
        row = results['per_op'][op] = {}
        for magnitude in args.magnitudes:
            augmenter.load_policy(policy_of(augmenter, 1.0, magnitude, only=op))
            row[magnitude] = teacher_top1(model, loader, args.passes)[0]
        print(f'| {op} | ' + ' | '.join(f'{v:.2f}' for v in row.values()) + ' |', flush=True)
    augmenter.num_ops = drawn
    return results


if __name__ == '__main__':
    main()
