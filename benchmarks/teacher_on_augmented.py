"""How often does the teacher get x' right under an untrained policy? (A regime check.)

    python benchmarks/teacher_on_augmented.py configs/demo/tst_fashion-mnist_patient.py \
        --magnitudes 0.5 0.4 0.3 [--passes 3]

Builds the config's distiller (teacher loaded from ``model.teacher_ckpt``), sets every op
probability to ``--probability`` and every magnitude to each value given, augments the
config's training data (its own pipeline, e.g. crop + flip, then the augmenter, as a
distillation step does) ``--passes`` times, and prints the teacher's top-1 on x' and on x.
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


def main(argv=None) -> None:
    """Print the teacher's top-1 on x' per magnitude."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    model.eval()
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    num_ops = len(model.augmenter.op_names)
    for magnitude in args.magnitudes:
        model.augmenter.load_policy({
            op: {'probability': args.probability,
                 'magnitude': magnitude if op in model.augmenter.magnitude_op_names else None}
            for op in model.augmenter.op_names})
        aug, clean = teacher_top1(model, loader, args.passes)
        print(f'magnitude {magnitude:.2f}, probability {args.probability:.2f} ({num_ops} ops, '
              f'{model.augmenter.num_ops} drawn per batch): teacher top-1 on x\' {aug:.2f}%, '
              f'on x {clean:.2f}%', flush=True)


if __name__ == '__main__':
    main()
