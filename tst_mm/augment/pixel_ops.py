"""Differentiable color ops and the fixed ops, on batches of images in ``[0, 1]``.

Every op here has the signature ``op(img, value, region) -> Tensor`` where ``img`` is a
``(B, C, H, W)`` batch in ``[0, 1]``, ``value`` is the op's parameter already mapped from the
magnitude (a 0-dim tensor carrying the gradient; see :mod:`tst_mm.augment.ops` for the
ranges) and ``region`` is the batch's :class:`~tst_mm.augment.region.ValidRegion`. Ops whose
result depends on image statistics (contrast, sharpness, equalize, cutout) look at the valid
region only; pointwise ops may touch padding, which the augmenter restores afterwards.

The enhance ops follow PIL's ``ImageEnhance`` conventions (blend with a degenerate image by
``factor = 1 + value``). The two step-like ops are differentiable through a straight-through
estimator: the forward value is the exact op, the backward pass uses the gradient of a smooth
surrogate (see :func:`posterize` and :func:`solarize`).
"""
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale
from kornia.enhance import adjust_brightness_accumulative, adjust_saturation_with_gray_subtraction
from torch import Tensor

from .region import ValidRegion

__all__ = [
    'brightness', 'color', 'contrast', 'sharpness', 'posterize', 'solarize', 'equalize',
    'invert', 'cutout', 'straight_through', 'SOLARIZE_SURROGATE_TEMPERATURE', 'CUTOUT_FILL'
]

#: Temperature of the sigmoid that replaces solarize's step in the backward pass.
SOLARIZE_SURROGATE_TEMPERATURE = 0.05
#: Grey level written into cutout patches (in ``[0, 1]``).
CUTOUT_FILL = 0.5


def straight_through(exact: Tensor, surrogate: Tensor) -> Tensor:
    """Return ``exact`` in the forward pass with the gradient of ``surrogate``.

    Args:
        exact: The op's exact (possibly piecewise-constant) output.
        surrogate: A smooth stand-in of the same shape whose gradient should be used.

    Returns:
        ``exact + surrogate - surrogate.detach()``.
    """
    return exact.detach() + surrogate - surrogate.detach()


def _needs_grad(*tensors: Tensor) -> bool:
    """Whether autograd will record an op on these tensors (else skip the surrogate)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _luma(img: Tensor) -> Tensor:
    """Grey level of each pixel: BT.601 luma for 3 channels, the channel mean otherwise."""
    if img.shape[1] == 3:
        return rgb_to_grayscale(img)
    return img.mean(dim=1, keepdim=True)


def _expand_mask(img: Tensor, region: ValidRegion) -> Tensor:
    """The valid mask, or an all-ones ``(1, 1, H, W)`` stand-in when nothing is padded."""
    if region.mask is not None:
        return region.mask
    return img.new_ones((1, 1) + tuple(img.shape[-2:]))


def brightness(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Scale intensities by ``1 + value`` (PIL ``Brightness``: blend with black)."""
    return adjust_brightness_accumulative(img, 1.0 + value)


def color(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Blend with the grey image by ``1 + value`` (PIL ``Color``).

    Saturation is only defined for RGB: with any channel count other than 3 this is the
    identity.
    """
    if img.shape[1] != 3:
        return img
    return adjust_saturation_with_gray_subtraction(img, 1.0 + value)


def contrast(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Blend with the image's mean grey level by ``1 + value`` (PIL ``Contrast``).

    The mean is taken over each image's valid region.
    """
    gray = _luma(img)
    if region.mask is None:
        mean = gray.mean(dim=(2, 3), keepdim=True)
    else:
        area = region.mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        mean = (gray * region.mask).sum(dim=(2, 3), keepdim=True) / area
    return (mean + (1.0 + value) * (img - mean)).clamp(0.0, 1.0)


def sharpness(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Blend with a smoothed image by ``1 + value`` (PIL ``Sharpness``).

    The smoothing kernel is PIL's ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``. As in PIL, pixels
    whose 3x3 neighbourhood leaves the image (here: the valid region) keep their value in the
    smoothed image, so padding never bleeds in.
    """
    channels = img.shape[1]
    kernel = img.new_ones(3, 3)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(channels, 1, 3, 3)
    blurred = F.conv2d(img, kernel, padding=1, groups=channels).clamp(0.0, 1.0)
    mask = _expand_mask(img, region)
    interior = F.avg_pool2d(F.pad(mask, (1, 1, 1, 1)), 3, stride=1) > 1.0 - 1e-4
    degenerate = torch.where(interior, blurred, img)
    return (degenerate + (1.0 + value) * (img - degenerate)).clamp(0.0, 1.0)


def posterize(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Keep the ``round(value)`` high bits of each 8-bit level.

    Forward: exact posterize of ``round(255 * img)`` with integer bits. Backward
    (straight-through): the gradient of the smooth surrogate ``img - (q - 1) / 510`` with the
    continuous quantisation step ``q = 2 ** (8 - value)``, i.e. the mean darkening that
    floor-quantising a uniformly distributed level by ``q`` causes. Its gradient w.r.t. ``img``
    is 1 (the identity straight-through).
    """
    step = torch.pow(2.0, 8.0 - torch.round(value.detach()))
    levels = torch.round(img.detach() * 255.0)
    exact = torch.floor(levels / step) * step / 255.0
    if not _needs_grad(img, value):
        return exact.to(img.dtype)
    surrogate = img - (torch.pow(2.0, 8.0 - value) - 1.0) / 510.0
    return straight_through(exact, surrogate)


def solarize(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Invert every pixel at or above the threshold ``value``.

    Forward: the exact step ``where(img >= t, 1 - img, img)``. Backward (straight-through): the
    gradient of ``img + s * (1 - 2 img)`` with ``s = sigmoid((img - t) / 0.05)``, a smooth
    version of the step.
    """
    exact = torch.where(img >= value, 1.0 - img, img)
    if not _needs_grad(img, value):
        return exact
    soft = torch.sigmoid((img - value) / SOLARIZE_SURROGATE_TEMPERATURE)
    surrogate = img + soft * (1.0 - 2.0 * img)
    return straight_through(exact, surrogate)


@torch.no_grad()
def equalize(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Histogram-equalise each channel of each image (PIL ``ImageOps.equalize``).

    The histogram counts the valid region only. Channels with too few distinct levels for PIL's
    lookup step are returned unchanged. Not differentiable (only its probability is learnt).
    ``value`` is ignored.
    """
    batch, channels, height, width = img.shape
    count_dtype = torch.float64 if img.dtype == torch.float64 else torch.float32
    # non-finite pixels (a diverged batch) count as 0 here instead of indexing out of range;
    # they stay non-finite in the blended output, where TST's search guard sees them
    finite = torch.nan_to_num(img, nan=0.0, posinf=1.0, neginf=0.0)
    levels = torch.round(finite.clamp(0.0, 1.0) * 255.0).long().view(batch * channels, -1)
    if region.mask is None:
        weights = torch.ones_like(levels, dtype=count_dtype)
    else:
        weights = region.mask.to(count_dtype).expand(batch, channels, height, width)
        weights = weights.reshape(batch * channels, -1)
    hist = levels.new_zeros((batch * channels, 256), dtype=count_dtype)
    hist.scatter_add_(1, levels, weights)
    total = hist.sum(dim=1)
    bins = torch.arange(256, device=img.device)
    last_bin = torch.where(hist > 0, bins, torch.zeros_like(bins)).amax(dim=1, keepdim=True)
    step = torch.floor((total - hist.gather(1, last_bin).squeeze(1)) / 255.0).unsqueeze(1)
    before = torch.cumsum(hist, dim=1) - hist
    lut = torch.floor((before + torch.floor(step / 2.0)) / step.clamp_min(1.0)).clamp(0.0, 255.0)
    out = (lut.gather(1, levels) / 255.0).to(img.dtype)
    out = torch.where(step > 0, out, img.reshape(batch * channels, -1))
    return out.view(batch, channels, height, width)


def invert(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Return ``1 - img``. ``value`` is ignored."""
    return 1.0 - img


def cutout(img: Tensor, value: Tensor, region: ValidRegion) -> Tensor:
    """Paint one grey square per image at a random centre inside its valid region.

    Args:
        img: ``(B, C, H, W)`` batch in ``[0, 1]``.
        value: Side of the square as a fraction of the shorter valid side.
        region: The batch's valid region.

    Returns:
        The batch with one :data:`CUTOUT_FILL` square per image (centres drawn with torch's RNG
        on the batch's device).
    """
    batch, _, height, width = img.shape
    sizes = region.sizes.to(img.dtype)
    centres = torch.rand((batch, 2), device=img.device, dtype=img.dtype) * sizes
    half = 0.5 * value.detach() * sizes.amin(dim=1)
    rows = torch.arange(height, device=img.device, dtype=img.dtype).view(1, height, 1) + 0.5
    cols = torch.arange(width, device=img.device, dtype=img.dtype).view(1, 1, width) + 0.5
    inside = ((rows - centres[:, 0].view(-1, 1, 1)).abs() < half.view(-1, 1, 1)) & \
        ((cols - centres[:, 1].view(-1, 1, 1)).abs() < half.view(-1, 1, 1))
    return torch.where(inside.unsqueeze(1), CUTOUT_FILL, img)
