"""The normalisation an augmenter's inputs carry: checked once, and the way to ``[0, 1]``
pixels and back.

The augmenter works on pixels in ``[0, 1]``; mm data preprocessors hand it inputs normalised
with a per-channel mean and std on the 0-255 scale. ``mean=None`` means the inputs already are
``[0, 1]`` pixels.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ['normalization_tensors', 'normalized_to_unit', 'unit_to_normalized']


def normalization_tensors(
        mean: Optional[Sequence[float]], std: Optional[Sequence[float]],
        device: torch.device) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """Check a normalisation and return it as ``(1, C, 1, 1)`` float tensors on ``device``.

    Args:
        mean: Per-channel mean in the 0-255 scale, or ``None`` for inputs in ``[0, 1]``.
        std: Per-channel std in the 0-255 scale, or ``None`` together with ``mean``.
        device: Where the tensors go.

    Returns:
        ``(mean, std)``, or ``(None, None)`` without a normalisation.

    Raises:
        ConfigError: If only one of them is given, their lengths differ, or a std is 0.
    """
    if (mean is None) != (std is None):
        raise ConfigError('mean and std must be given together (or both None).')
    if mean is None:
        return None, None
    mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten().view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).flatten().view(1, -1, 1, 1)
    if mean_t.numel() != std_t.numel():
        raise ConfigError(f'mean and std lengths differ: {mean_t.numel()} vs {std_t.numel()}.')
    if bool((std_t == 0).any()):
        raise ConfigError('std must be non-zero.')
    return mean_t.to(device), std_t.to(device)


def normalized_to_unit(x: Tensor, mean: Optional[Tensor], std: Optional[Tensor]) -> Tensor:
    """Normalised inputs -> pixels clamped to ``[0, 1]``.

    Raises:
        ConfigError: If the normalisation has neither one channel nor as many as ``x``.
    """
    if mean is not None:
        if mean.numel() not in (1, x.shape[1]):
            raise ConfigError(f'Normalisation has {mean.numel()} channels but the inputs '
                              f'have {x.shape[1]}.')
        x = (x * std.to(x.dtype) + mean.to(x.dtype)) / 255.0
    return x.clamp(0.0, 1.0)


def unit_to_normalized(x: Tensor, mean: Optional[Tensor], std: Optional[Tensor]) -> Tensor:
    """Pixels in ``[0, 1]`` -> normalised inputs (unchanged without a normalisation)."""
    if mean is None:
        return x
    return (x * 255.0 - mean.to(x.dtype)) / std.to(x.dtype)
