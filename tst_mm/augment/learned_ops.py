"""Op-imitation networks: TST's "priori bias" alternative to the exact color ops.

For each color op with a learnable magnitude, a tiny CNN is pretrained (by MSE, with
``tools/pretrain_ops.py``) to map ``(image, magnitude)`` to the exact op's output, then frozen.
Its output is smooth in the magnitude, so no straight-through estimator is needed.

Geometric ops are not imitated: a few 3x3 convolutions cannot move content by up to 45% of
the image, and detection/segmentation need the exact affine to move labels. With
``op_impl='learned'`` they stay exact affine warps.

Checkpoint format (a plain dict, loadable with ``torch.load(weights_only=True)``):
``{'channels': int, 'width': int, 'ops': [names], 'state_dict': {...}, 'mse': {name: float}}``.
"""
import os
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError, ConfigFileNotFoundError
from .region import ValidRegion

__all__ = ['OpImitationNet', 'LearnedOps', 'load_learned_ops', 'PRETRAIN_HINT']

PRETRAIN_HINT = 'run `python tools/pretrain_ops.py --out PATH` to create it'


class OpImitationNet(nn.Module):
    """A tiny residual CNN that imitates one color op.

    Inputs per pixel: the image (C channels), the per-channel mean of the image's valid region
    (C constant maps, so global ops such as contrast are learnable) and the signed magnitude
    ``sign * m`` in ``[-1, 1]`` (one constant map). Output: ``image + residual`` (not clamped,
    the augmenter clamps after blending).

    Args:
        channels: Image channels the network was trained for.
        width: Hidden channels.
    """

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        self.channels = channels
        self.body = nn.Sequential(
            nn.Conv2d(2 * channels + 1, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1), nn.ReLU(inplace=True),
            nn.Conv2d(width, channels, 1))

    def forward(self, img: Tensor, signed_magnitude: Tensor,
                region: Optional[ValidRegion] = None) -> Tensor:
        """Imitate the op.

        Args:
            img: ``(B, C, H, W)`` batch in ``[0, 1]``.
            signed_magnitude: 0-dim, ``(B,)`` or ``(B, 1, 1, 1)`` values of ``sign * m``.
            region: Valid region (its mask restricts the mean), or ``None`` for whole images.

        Returns:
            The ``(B, C, H, W)`` imitation of the op's output.
        """
        if img.shape[1] != self.channels:
            raise ConfigError(f'Op-imitation network was trained for {self.channels}-channel '
                              f'images but got {img.shape[1]} channels; {PRETRAIN_HINT} with '
                              f'--channels {img.shape[1]}.')
        batch, _, height, width = img.shape
        if region is None or region.mask is None:
            mean = img.mean(dim=(2, 3), keepdim=True)
        else:
            area = region.mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
            mean = (img * region.mask).sum(dim=(2, 3), keepdim=True) / area
        magnitude = signed_magnitude.to(img.dtype).reshape(-1, 1, 1, 1)
        features = torch.cat([
            img,
            mean.expand(batch, self.channels, height, width),
            magnitude.expand(batch, 1, height, width)
        ], dim=1)
        return img + self.body(features)


class LearnedOps(nn.Module):
    """The frozen op-imitation networks of an augmenter, by op name.

    Args:
        nets: Networks by op name.
    """

    def __init__(self, nets: Dict[str, OpImitationNet]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.requires_grad_(False)

    def forward(self, name: str, img: Tensor, signed_magnitude: Tensor,
                region: Optional[ValidRegion] = None) -> Tensor:
        """Run the network imitating ``name`` (see :meth:`OpImitationNet.forward`)."""
        return self.nets[name](img, signed_magnitude, region)


def load_learned_ops(path: Optional[str], names: Sequence[str]) -> LearnedOps:
    """Load the op-imitation networks for ``names`` from a pretraining checkpoint.

    Args:
        path: Checkpoint written by ``tools/pretrain_ops.py``.
        names: Ops that need a network.

    Returns:
        The frozen networks.

    Raises:
        ConfigFileNotFoundError: If ``path`` is ``None`` or missing.
        ConfigError: If the checkpoint is malformed or lacks some of ``names``.
    """
    if path is None or not os.path.isfile(path):
        raise ConfigFileNotFoundError(
            f'op_impl="learned" needs learned_ops_ckpt, the op-imitation checkpoint; '
            f'{path!r} does not exist: {PRETRAIN_HINT}.')
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    required = ('channels', 'width', 'ops', 'state_dict')
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in required):
        raise ConfigError(f'{path} is not an op-imitation checkpoint (needs keys {required}); '
                          f'{PRETRAIN_HINT}.')
    missing = [n for n in names if n not in ckpt['ops']]
    if missing:
        raise ConfigError(f'{path} has no op-imitation network for {missing} (it has '
                          f'{list(ckpt["ops"])}); {PRETRAIN_HINT} with --ops including them.')
    nets = {n: OpImitationNet(int(ckpt['channels']), int(ckpt['width'])) for n in names}
    module = LearnedOps(nets)
    state = {k: v for k, v in ckpt['state_dict'].items() if k.split('.')[1] in names}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ConfigError(f'{path} does not match the op-imitation networks: {err}; '
                          f'{PRETRAIN_HINT}.') from err
    return module

