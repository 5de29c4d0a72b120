"""Pretrain the op-imitation networks used by ``LearnableAugmenter(op_impl='learned')``.

Each color op with a learnable magnitude (brightness, color, contrast, sharpness, posterize,
solarize) gets a tiny CNN trained by MSE to reproduce the exact op on random crops of the real
photos bundled with scikit-image, at random magnitudes and signs. Geometric ops are not
imitated (see ``tst_mm/augment/learned_ops.py``). Example::

    python tools/pretrain_ops.py --out work_dirs/learned_ops_rgb.pth --channels 3
    python tools/pretrain_ops.py --out work_dirs/learned_ops_gray.pth --channels 1 --iters 1000

Then build the augmenter with ``op_impl='learned', learned_ops_ckpt=<--out>``. Cost: about
0.7 s per iteration (6 ops, batch 16, crop 32, width 32) on two busy CPU cores; 200 iterations
already bring each op's held-out MSE well below the no-op baseline (solarize, a step, stays the
hardest to imitate).
"""
import argparse
import os
import sys
import time
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root
from tst_mm.augment.learned_ops import LearnedOps, OpImitationNet
from tst_mm.augment.ops import COLOR, OP_NAMES, build_op
from tst_mm.augment.region import ValidRegion

IMITATED_OPS = [n for n in OP_NAMES if build_op(n).kind == COLOR]
#: Real photos bundled in the scikit-image wheel (no download needed).
RGB_PHOTOS = ['astronaut', 'chelsea', 'rocket', 'hubble_deep_field', 'immunohistochemistry',
              'retina']
GRAY_PHOTOS = ['moon', 'coins', 'page', 'text', 'brick', 'grass', 'gravel', 'clock', 'cell']
#: Held out from training, used for the final per-op MSE.
EVAL_RGB_PHOTOS = ['coffee']
EVAL_GRAY_PHOTOS = ['camera']
SCALES = (1.0, 0.5, 0.25)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Pretrain op-imitation networks (TST).')
    parser.add_argument('--out', required=True, help='checkpoint path to write')
    parser.add_argument('--iters', type=int, default=2000, help='training iterations')
    parser.add_argument('--channels', type=int, default=3, choices=[1, 3],
                        help='image channels of the target data (1: grey, 3: RGB)')
    parser.add_argument('--width', type=int, default=32, help='hidden channels per network')
    parser.add_argument('--ops', nargs='+', default=IMITATED_OPS, choices=IMITATED_OPS,
                        help='ops to imitate (default: all color ops)')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--crop', type=int, default=32, help='side of the training crops')
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--log-interval', type=int, default=100,
                        help='print the running per-op MSE every N iterations')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def load_photos(names: Sequence[str], channels: int) -> List[Tensor]:
    """Load scikit-image photos as ``(C, H, W)`` float tensors in ``[0, 1]``.

    RGB photos become grey (BT.601 luma) when ``channels == 1``; grey photos are skipped when
    ``channels == 3``.
    """
    import skimage.data
    photos = []
    for name in names:
        array = getattr(skimage.data, name)()
        img = torch.from_numpy(array).float() / 255.0
        if img.dim() == 2:
            if channels == 3:
                continue
            img = img.unsqueeze(0)
        else:
            img = img[..., :3].permute(2, 0, 1)
            if channels == 1:
                weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
                img = (img * weights).sum(dim=0, keepdim=True)
        photos.append(img.contiguous())
    return photos


def build_pyramid(photos: Sequence[Tensor], crop: int) -> List[Tensor]:
    """Each photo at several scales (antialiased), keeping those at least ``crop`` wide."""
    pyramid = []
    for img in photos:
        for scale in SCALES:
            size = (round(img.shape[1] * scale), round(img.shape[2] * scale))
            if min(size) < crop:
                continue
            resized = img if scale == 1.0 else F.interpolate(
                img[None], size=size, mode='bilinear', antialias=True, align_corners=False)[0]
            pyramid.append(resized.clamp(0.0, 1.0))
    return pyramid


def random_crops(pyramid: Sequence[Tensor], batch: int, crop: int,
                 gen: torch.Generator) -> Tensor:
    """``batch`` random crops (random photo, scale, position and horizontal flip)."""
    crops = []
    for _ in range(batch):
        img = pyramid[int(torch.randint(len(pyramid), (1, ), generator=gen))]
        top = int(torch.randint(img.shape[1] - crop + 1, (1, ), generator=gen))
        left = int(torch.randint(img.shape[2] - crop + 1, (1, ), generator=gen))
        patch = img[:, top:top + crop, left:left + crop]
        if bool(torch.rand((), generator=gen) < 0.5):
            patch = patch.flip(-1)
        crops.append(patch)
    return torch.stack(crops)


def exact_targets(name: str, img: Tensor, magnitude: Tensor,
                  sign: Tensor) -> Tuple[Tensor, Tensor]:
    """The exact op's output for per-sample magnitudes and signs, and the nets' input.

    Returns:
        The target batch and the ``(B, 1, 1, 1)`` signed magnitude fed to the network.
    """
    op = build_op(name)
    sign = sign if op.signed else torch.ones_like(sign)
    value = sign * (op.low + (op.high - op.low) * magnitude)
    region = ValidRegion.from_data_samples(img, None)
    with torch.no_grad():
        target = op.apply(img, value, region)
    return target, sign * magnitude


def draw_magnitudes(batch: int, gen: torch.Generator) -> Tuple[Tensor, Tensor]:
    """Uniform magnitudes in ``[0, 1]`` and random signs, shaped ``(B, 1, 1, 1)``."""
    magnitude = torch.rand((batch, 1, 1, 1), generator=gen)
    sign = torch.randint(0, 2, (batch, 1, 1, 1), generator=gen).float() * 2 - 1
    return magnitude, sign


@torch.no_grad()
def evaluate(nets: LearnedOps, ops: Sequence[str], photos: Sequence[Tensor], crop: int,
             device: torch.device, seed: int) -> Dict[str, Tuple[float, float]]:
    """Per-op MSE of the networks and of doing nothing, on held-out crops.

    Returns:
        ``{op: (network MSE, identity MSE)}`` over a grid of magnitudes and both signs.
    """
    gen = torch.Generator().manual_seed(seed + 1)
    img = random_crops(build_pyramid(photos, crop), 64, crop, gen).to(device)
    grid = torch.linspace(0.05, 1.0, 8)
    results = {}
    for name in ops:
        net_err, id_err = 0.0, 0.0
        for m in grid:
            for s in (1.0, -1.0):
                magnitude = torch.full((img.shape[0], 1, 1, 1), float(m), device=device)
                sign = torch.full_like(magnitude, s)
                target, signed = exact_targets(name, img, magnitude, sign)
                net_err += F.mse_loss(nets(name, img, signed), target).item()
                id_err += F.mse_loss(img, target).item()
        count = 2 * len(grid)
        results[name] = (net_err / count, id_err / count)
    return results


def main(argv=None) -> int:
    """Train, report and save. Returns the process exit status."""
    args = parse_args(argv)
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        print('scikit-image is not installed: it provides the real photos the op-imitation '
              'networks are trained on (pip install scikit-image). Refusing to train on '
              'synthetic images.', file=sys.stderr)
        return 1
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    device = torch.device(args.device)
    train_names = RGB_PHOTOS + GRAY_PHOTOS
    eval_names = EVAL_RGB_PHOTOS + (EVAL_GRAY_PHOTOS if args.channels == 1 else [])
    pyramid = build_pyramid(load_photos(train_names, args.channels), args.crop)
    eval_photos = load_photos(eval_names, args.channels)
    print(f'pretrain_ops: {len(args.ops)} ops, {args.channels} channel(s), {len(pyramid)} '
          f'photo scales from scikit-image, {args.iters} iters, batch {args.batch_size}, '
          f'crop {args.crop}, device {device}', flush=True)

    nets = LearnedOps({n: OpImitationNet(args.channels, args.width) for n in args.ops})
    nets.requires_grad_(True)
    nets.to(device).train()
    optimizer = torch.optim.Adam(nets.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(args.iters, 1),
                                                           eta_min=args.lr * 0.05)
    running = {n: 0.0 for n in args.ops}
    start = time.time()
    for it in range(1, args.iters + 1):
        img = random_crops(pyramid, args.batch_size, args.crop, gen).to(device)
        total = 0.0
        for name in args.ops:
            magnitude, sign = draw_magnitudes(args.batch_size, gen)
            target, signed = exact_targets(name, img, magnitude.to(device), sign.to(device))
            loss = F.mse_loss(nets(name, img, signed), target)
            total = total + loss
            running[name] += loss.item()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        scheduler.step()
        if it % args.log_interval == 0 or it == args.iters:
            span = args.log_interval if it % args.log_interval == 0 else it % args.log_interval
            report = '  '.join(f'{n} {running[n] / span:.2e}' for n in args.ops)
            print(f'iter {it}/{args.iters}  mse: {report}  ({time.time() - start:.0f} s)',
                  flush=True)
            running = {n: 0.0 for n in args.ops}

    nets.eval()
    results = evaluate(nets, args.ops, eval_photos, args.crop, device, args.seed)
    print(f'final per-op MSE on held-out photos ({", ".join(eval_names)}), '
          'network vs. no-op baseline:')
    for name, (net_err, id_err) in results.items():
        print(f'  {name:<11} {net_err:.2e}   (identity {id_err:.2e})')
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in nets.state_dict().items()}
    torch.save({
        'channels': args.channels,
        'width': args.width,
        'ops': list(args.ops),
        'state_dict': state,
        'mse': {n: r[0] for n, r in results.items()},
        'iters': args.iters,
    }, args.out)
    print(f'saved {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
