"""Affine matrices of the geometric ops and the warp that applies them.

Conventions used throughout tst-mm:

* Pixel coordinates are continuous ``(x, y)`` with the origin at the top-left corner of the
  batch tensor, ``x`` to the right, ``y`` down; pixel ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)``
  and its centre is ``(j + 0.5, i + 0.5)``. This is the convention of mmdet's boxes.
* A matrix is a *forward* map: it sends a point of the input image to where it lands in the
  output image (so boxes are moved by applying it to their corners). The warp samples with its
  inverse.
* Each image's warp is built around the centre ``(w / 2, h / 2)`` of its valid region
  ``(h, w)`` and translations are fractions of that region's sides, so padding does not change
  what an op does to the image.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'shear_x_matrix', 'shear_y_matrix', 'translate_x_matrix', 'translate_y_matrix',
    'rotate_matrix', 'warp_affine'
]


def _identity(sizes: Tensor, value: Tensor) -> Tensor:
    """``(B, 3, 3)`` identity matrices in the dtype/device of ``value`` (keeps the graph)."""
    eye = torch.eye(3, device=sizes.device, dtype=value.dtype)
    return eye.expand(sizes.shape[0], 3, 3).clone()


def shear_x_matrix(value: Tensor, sizes: Tensor) -> Tensor:
    """Horizontal shear about the valid centre: ``x' = x + value * (y - h / 2)``.

    Args:
        value: 0-dim signed shear coefficient.
        sizes: ``(B, 2)`` valid ``(h, w)`` per image.

    Returns:
        ``(B, 3, 3)`` forward matrices in pixel coordinates.
    """
    mat = _identity(sizes, value)
    mat[:, 0, 1] = value
    mat[:, 0, 2] = -value * sizes[:, 0] / 2.0
    return mat


def shear_y_matrix(value: Tensor, sizes: Tensor) -> Tensor:
    """Vertical shear about the valid centre: ``y' = y + value * (x - w / 2)``.

    Args:
        value: 0-dim signed shear coefficient.
        sizes: ``(B, 2)`` valid ``(h, w)`` per image.

    Returns:
        ``(B, 3, 3)`` forward matrices in pixel coordinates.
    """
    mat = _identity(sizes, value)
    mat[:, 1, 0] = value
    mat[:, 1, 2] = -value * sizes[:, 1] / 2.0
    return mat


def translate_x_matrix(value: Tensor, sizes: Tensor) -> Tensor:
    """Shift right by ``value * w`` pixels (``value`` is a signed fraction of the valid width).

    Args:
        value: 0-dim signed fraction of the valid width.
        sizes: ``(B, 2)`` valid ``(h, w)`` per image.

    Returns:
        ``(B, 3, 3)`` forward matrices in pixel coordinates.
    """
    mat = _identity(sizes, value)
    mat[:, 0, 2] = value * sizes[:, 1]
    return mat


def translate_y_matrix(value: Tensor, sizes: Tensor) -> Tensor:
    """Shift down by ``value * h`` pixels (``value`` is a signed fraction of the valid height).

    Args:
        value: 0-dim signed fraction of the valid height.
        sizes: ``(B, 2)`` valid ``(h, w)`` per image.

    Returns:
        ``(B, 3, 3)`` forward matrices in pixel coordinates.
    """
    mat = _identity(sizes, value)
    mat[:, 1, 2] = value * sizes[:, 0]
    return mat


def rotate_matrix(value: Tensor, sizes: Tensor) -> Tensor:
    """Rotate by ``value`` degrees about the valid centre.

    With ``y`` pointing down, a positive angle turns the image clockwise on screen.

    Args:
        value: 0-dim signed angle in degrees.
        sizes: ``(B, 2)`` valid ``(h, w)`` per image.

    Returns:
        ``(B, 3, 3)`` forward matrices in pixel coordinates.
    """
    theta = value * (math.pi / 180.0)
    cos, sin = torch.cos(theta), torch.sin(theta)
    cx, cy = sizes[:, 1] / 2.0, sizes[:, 0] / 2.0
    mat = _identity(sizes, value)
    mat[:, 0, 0] = cos
    mat[:, 0, 1] = -sin
    mat[:, 1, 0] = sin
    mat[:, 1, 1] = cos
    mat[:, 0, 2] = cx - cos * cx + sin * cy
    mat[:, 1, 2] = cy - sin * cx - cos * cy
    return mat


def warp_affine(img: Tensor, forward: Tensor, fill: float = 0.0) -> Tensor:
    """Warp a batch with per-image forward affine maps (bilinear, constant fill).

    Output pixel ``p`` takes the input at ``forward^-1 p``; points that fall outside the tensor
    read ``fill``. To keep padding out, the caller sets the padding of ``img`` to ``fill``
    first.

    Args:
        img: ``(B, C, H, W)`` batch.
        forward: ``(B, 3, 3)`` (or ``(B, 2, 3)``) forward maps in pixel coordinates.
        fill: Value read outside the tensor.

    Returns:
        The warped ``(B, C, H, W)`` batch.
    """
    batch, channels, height, width = img.shape
    if forward.shape[-2] == 2:
        last_row = torch.zeros_like(forward[:, :1])
        last_row[..., 2] = 1.0
        forward = torch.cat([forward, last_row], dim=1)
    inv = torch.linalg.inv(forward)
    # Not kornia's warp_affine: it puts pixel centres at integer coordinates (align_corners),
    # mmdet's boxes and ours at half-integers, so boxes would drift by half a pixel.
    # Express the inverse map in affine_grid's normalised coordinates (align_corners=False):
    # u = 2 x / W - 1, v = 2 y / H - 1. Done elementwise so no constant is copied to the device.
    a, b, c = inv[:, 0, 0], inv[:, 0, 1], inv[:, 0, 2]
    d, e, f = inv[:, 1, 0], inv[:, 1, 1], inv[:, 1, 2]
    aspect = height / width
    theta = torch.stack([
        torch.stack([a, b * aspect, a + b * aspect + 2.0 * c / width - 1.0], dim=1),
        torch.stack([d / aspect, e, d / aspect + e + 2.0 * f / height - 1.0], dim=1),
    ], dim=1).to(img.dtype)
    grid = F.affine_grid(theta, [batch, channels, height, width], align_corners=False)
    if fill == 0.0:
        return F.grid_sample(img, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    warped = F.grid_sample(img - fill, grid, mode='bilinear', padding_mode='zeros',
                           align_corners=False)
    return warped + fill
