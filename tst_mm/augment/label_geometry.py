"""Move the labels of a batch with the affine warp the augmenter applied to its pixels.

In ``geometric_mode='compose'`` the augmenter warps each image once with a forward affine ``A``
(pixel coordinates of the padded batch, see :mod:`tst_mm.augment.geometry`). The functions here
move everything spatial that a data sample carries in the same way:

* boxes (``gt_instances``, ``ignored_instances``, ``proposals``; a tensor or an mmdet
  ``HorizontalBoxes``, ``x1, y1, x2, y2``): the four corners go through ``A``; the new box is
  their min/max, clipped to the image's valid region ``img_shape`` (never the padded canvas).
  Boxes that end up narrower or lower than ``min_box_size`` pixels, or keep less than
  ``min_box_visible`` of their pre-clip area, are dropped together with every other field of
  the instance (labels, masks, ...);
* instance masks (mmdet ``BitmapMasks`` of any canvas size: the image's or, with
  ``pad_mask=True``, the padded batch's): nearest sampling through ``A``; pixels that come from
  outside the valid region, and the padding itself, are 0. ``PolygonMasks``: the vertices go
  through ``A`` (not clipped; mmdet crops polygons to their box when it makes mask targets);
* semantic maps (``gt_sem_seg``, a ``PixelData`` of ``(1, H, W)`` or ``(H, W)`` class ids, mmdet
  field ``sem_seg`` or mmseg field ``data``): nearest sampling through ``A``; pixels from outside
  the valid region and the padding become ``seg_ignore_index``. No new class id can appear.

Nearest sampling matches the image warp (``grid_sample`` with ``align_corners=False``): output
pixel ``(i, j)`` reads source pixel ``floor(A^-1 (j + 0.5, i + 0.5))``, so an exact identity
leaves every label bit-identical. Metainfo (``img_shape``, ``pad_shape``,
``batch_input_shape``) is unchanged because the warp keeps the canvas.

The caller's samples are never modified: each warped sample is a shallow copy
(``BaseDataElement.new``) whose spatial fields are replaced by new objects; fields that do not
move are shared.
"""
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    'INSTANCE_FIELDS', 'SEG_FIELDS', 'has_spatial_labels', 'warp_boxes', 'warp_bitmap_masks',
    'warp_polygon_masks', 'warp_label_map', 'warp_data_sample', 'apply_label_geometry',
    'clip_boxes_to_image'
]

#: Data-sample fields holding per-instance boxes / masks that move with the image.
INSTANCE_FIELDS = ('gt_instances', 'ignored_instances', 'proposals')
#: Data-sample fields holding dense label maps that move with the image.
SEG_FIELDS = ('gt_sem_seg', )


# ---------------------------------------------------------------------------- helpers
def _as_3x3(affine: Tensor) -> Tensor:
    """``(2, 3)`` or ``(3, 3)`` forward affine -> ``(3, 3)`` float64."""
    affine = affine.detach().to(torch.float64)
    if affine.shape == (3, 3):
        return affine
    if affine.shape != (2, 3):
        raise ValueError(f'expected a (2, 3) or (3, 3) affine, got {tuple(affine.shape)}')
    last = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64, device=affine.device)
    return torch.cat([affine, last])


def _is_identity(affine: Tensor) -> bool:
    """Whether a forward affine is exactly the identity."""
    eye = torch.eye(3, dtype=torch.float64, device=affine.device)[:2]
    return bool(torch.equal(_as_3x3(affine)[:2], eye))


def _valid_hw(img_shape: Sequence[int], canvas_hw: Tuple[int, int]) -> Tuple[int, int]:
    """The image's valid ``(h, w)`` inside a canvas (bottom/right padding), clipped to it."""
    return min(int(img_shape[0]), canvas_hw[0]), min(int(img_shape[1]), canvas_hw[1])


def _source_pixels(affine: Tensor, canvas_hw: Tuple[int, int], valid_hw: Tuple[int, int],
                   device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
    """Nearest source pixel of every output pixel of a canvas.

    Returns:
        ``(rows, cols, inside)``: ``(H, W)`` long source indices (clamped into the canvas) and
        a bool mask that is ``True`` where the output pixel lies in the valid region and reads
        a source pixel that also lies in it.
    """
    height, width = canvas_hw
    valid_h, valid_w = valid_hw
    inv = torch.linalg.inv(_as_3x3(affine)).to(device)
    ys = torch.arange(height, device=device, dtype=torch.float64).view(-1, 1) + 0.5
    xs = torch.arange(width, device=device, dtype=torch.float64).view(1, -1) + 0.5
    src_x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    src_y = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    cols = torch.floor(src_x)
    rows = torch.floor(src_y)
    inside = (cols >= 0) & (cols < valid_w) & (rows >= 0) & (rows < valid_h)
    inside &= (ys < valid_h) & (xs < valid_w)
    rows = rows.clamp(0, height - 1).long()
    cols = cols.clamp(0, width - 1).long()
    return rows, cols, inside


# ---------------------------------------------------------------------------- boxes
def warp_boxes(boxes: Tensor, affine: Tensor, img_shape: Sequence[int],
               min_box_size: float = 1.0,
               min_box_visible: float = 0.1) -> Tuple[Tensor, Tensor]:
    """Map ``x1, y1, x2, y2`` boxes through a forward affine and clip them to the image.

    Args:
        boxes: ``(N, 4)`` boxes in pixel coordinates.
        affine: ``(2, 3)`` or ``(3, 3)`` forward affine of the image.
        img_shape: The image's valid ``(h, w)`` (extra trailing entries are ignored).
        min_box_size: Boxes narrower or lower than this (pixels, after clipping) are dropped.
        min_box_visible: Boxes keeping less than this fraction of their warped, pre-clip area
            inside the image are dropped.

    Returns:
        ``(new_boxes, keep)``: all ``N`` warped and clipped boxes (same dtype and device as
        ``boxes``) and the ``(N,)`` bool mask of the boxes to keep.
    """
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f'expected (N, 4) x1, y1, x2, y2 boxes, got {tuple(boxes.shape)}')
    from mmdet.structures.bbox import HorizontalBoxes  # only where boxes exist
    moved = HorizontalBoxes(boxes.to(torch.float64))  # mmdet's corner convention is ours
    moved.project_(_as_3x3(affine).to(boxes.device))  # corners through A, then their min/max
    area_before = moved.areas
    moved.clip_((float(img_shape[0]), float(img_shape[1])))
    box_w, box_h = moved.widths, moved.heights
    keep = (box_w >= min_box_size) & (box_h >= min_box_size)
    keep &= box_w * box_h >= min_box_visible * area_before
    keep &= torch.isfinite(area_before)
    return moved.tensor.to(boxes.dtype), keep


# ---------------------------------------------------------------------------- masks and maps
def warp_bitmap_masks(masks: Any, affine: Tensor, img_shape: Sequence[int]) -> Any:
    """Warp mmdet ``BitmapMasks`` with nearest sampling; the canvas size is kept.

    Args:
        masks: ``BitmapMasks`` whose canvas is the image or the padded batch.
        affine: ``(2, 3)`` or ``(3, 3)`` forward affine of the image.
        img_shape: The image's valid ``(h, w)``.

    Returns:
        New ``BitmapMasks`` of the same canvas size and dtype; 0 outside the valid region and
        where the source pixel is outside it.
    """
    canvas = (int(masks.height), int(masks.width))
    if len(masks) == 0:
        return type(masks)(masks.masks.copy(), *canvas)
    rows, cols, inside = _source_pixels(affine, canvas, _valid_hw(img_shape, canvas),
                                        torch.device('cpu'))
    source = torch.from_numpy(np.ascontiguousarray(masks.masks))
    warped = source[:, rows, cols] * inside.to(source.dtype)
    return type(masks)(warped.numpy(), *canvas)


def warp_polygon_masks(masks: Any, affine: Tensor) -> Any:
    """Move the vertices of mmdet ``PolygonMasks`` through a forward affine (no clipping).

    Args:
        masks: ``PolygonMasks``.
        affine: ``(2, 3)`` or ``(3, 3)`` forward affine of the image.

    Returns:
        New ``PolygonMasks`` of the same canvas size.
    """
    mat = _as_3x3(affine).cpu().numpy()
    moved = []
    for polygons in masks.masks:
        moved_polygons = []
        for poly in polygons:
            points = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
            points = points @ mat[:2, :2].T + mat[:2, 2]
            moved_polygons.append(points.reshape(-1).astype(np.asarray(poly).dtype))
        moved.append(moved_polygons)
    return type(masks)(moved, masks.height, masks.width)


def warp_label_map(label_map: Tensor, affine: Tensor, img_shape: Sequence[int],
                   ignore_index: int = 255) -> Tensor:
    """Warp a map of class ids with nearest sampling; the canvas size is kept.

    Args:
        label_map: ``(H, W)`` or ``(C, H, W)`` integer map (``C`` is usually 1).
        affine: ``(2, 3)`` or ``(3, 3)`` forward affine of the image.
        img_shape: The image's valid ``(h, w)``.
        ignore_index: Value given to pixels from outside the valid region and to the padding.

    Returns:
        The warped map, same shape, dtype and device; every value is a value of the input or
        ``ignore_index``.
    """
    if label_map.dim() not in (2, 3):
        raise ValueError(f'expected an (H, W) or (C, H, W) label map, got '
                         f'{tuple(label_map.shape)}')
    canvas = (int(label_map.shape[-2]), int(label_map.shape[-1]))
    rows, cols, inside = _source_pixels(affine, canvas, _valid_hw(img_shape, canvas),
                                        label_map.device)
    warped = label_map[..., rows, cols]
    fill = torch.full((), ignore_index, dtype=label_map.dtype, device=label_map.device)
    return torch.where(inside, warped, fill)


# ---------------------------------------------------------------------------- data samples
def _boxes_tensor(boxes: Any) -> Tensor:
    """The ``(N, 4)`` tensor of a tensor or an mmdet horizontal box object."""
    if isinstance(boxes, Tensor):
        return boxes
    tensor = getattr(boxes, 'tensor', None)
    if not isinstance(tensor, Tensor) or tensor.shape[-1] != 4:
        raise TypeError(f'cannot move boxes of type {type(boxes).__name__} with the image: '
                        'only (N, 4) x1, y1, x2, y2 tensors and HorizontalBoxes are supported')
    return tensor


def _warp_masks(masks: Any, affine: Tensor, img_shape: Sequence[int]) -> Any:
    """Dispatch on the mask type (mmdet ``BitmapMasks`` or ``PolygonMasks``)."""
    if isinstance(getattr(masks, 'masks', None), np.ndarray):
        return warp_bitmap_masks(masks, affine, img_shape)
    if isinstance(getattr(masks, 'masks', None), list):
        return warp_polygon_masks(masks, affine)
    raise TypeError(f'cannot move instance masks of type {type(masks).__name__} with the '
                    'image: only mmdet BitmapMasks and PolygonMasks are supported')


def _warp_instances(instances: Any, affine: Tensor, img_shape: Sequence[int],
                    min_box_size: float, min_box_visible: float) -> Any:
    """Warp one ``InstanceData``: boxes, dropping degenerate ones with all their fields."""
    if len(instances.keys()) == 0:
        return instances
    out = instances.new()
    if 'bboxes' in instances:
        boxes = instances.bboxes
        tensor = _boxes_tensor(boxes)
        new_tensor, keep = warp_boxes(tensor, affine, img_shape, min_box_size,
                                      min_box_visible)
        if not bool(keep.all()):
            out = instances[keep]
            new_tensor = new_tensor[keep]
        out.bboxes = new_tensor if isinstance(boxes, Tensor) else type(boxes)(new_tensor)
    if 'masks' in out:
        out.masks = _warp_masks(out.masks, affine, img_shape)
    return out


def _pixel_fields(data: Any) -> List[str]:
    """Names of the tensor fields of a ``PixelData``."""
    return [key for key in data.keys() if isinstance(data.get(key), Tensor)]


def has_spatial_labels(sample: Any) -> bool:
    """Whether a data sample carries labels that must move with the image's pixels."""
    keys = set(sample.keys()) if hasattr(sample, 'keys') else set()
    for name in INSTANCE_FIELDS:
        if name in keys:
            instances = sample.get(name)
            if 'bboxes' in instances or 'masks' in instances:
                return True
    return any(name in keys for name in SEG_FIELDS)


def warp_data_sample(sample: Any, affine: Tensor, min_box_size: float = 1.0,
                     min_box_visible: float = 0.1, seg_ignore_index: int = 255) -> Any:
    """Return a copy of a data sample whose spatial labels follow a forward affine.

    Args:
        sample: An mmengine ``BaseDataElement`` (mmdet ``DetDataSample``, mmseg
            ``SegDataSample``, ...) with ``img_shape`` in its metainfo.
        affine: ``(2, 3)`` or ``(3, 3)`` forward affine of the image, in pixel coordinates.
        min_box_size: See :func:`warp_boxes`.
        min_box_visible: See :func:`warp_boxes`.
        seg_ignore_index: See :func:`warp_label_map`.

    Returns:
        ``sample`` itself when the affine is exactly the identity or nothing moves; otherwise a
        shallow copy with new spatial fields. ``sample`` is never modified.

    Raises:
        ValueError: If the sample has spatial labels but no ``img_shape``.
        TypeError: If it holds boxes or masks of a type that cannot be moved.
    """
    if not has_spatial_labels(sample) or _is_identity(affine):
        return sample
    img_shape: Optional[Sequence[int]] = sample.metainfo.get('img_shape')
    if img_shape is None:
        raise ValueError('a data sample with boxes, masks or label maps has no img_shape '
                         'metainfo, so its valid region is unknown')
    out = sample.new()
    for name in INSTANCE_FIELDS:
        if name in sample:
            setattr(out, name, _warp_instances(sample.get(name), affine, img_shape,
                                               min_box_size, min_box_visible))
    for name in SEG_FIELDS:
        if name in sample:
            data = sample.get(name)
            warped = data.new()
            for key in _pixel_fields(data):
                setattr(warped, key,
                        warp_label_map(data.get(key), affine, img_shape, seg_ignore_index))
            setattr(out, name, warped)
    return out


def apply_label_geometry(data_samples: Optional[Sequence[Any]], affines: Tensor,
                         min_box_size: float = 1.0, min_box_visible: float = 0.1,
                         seg_ignore_index: int = 255) -> Optional[list]:
    """Warp the spatial labels of a batch's data samples, one forward affine per image.

    Args:
        data_samples: The batch's data samples, or ``None``.
        affines: ``(B, 2, 3)`` or ``(B, 3, 3)`` forward affines (e.g. the augmenter's
            ``last_affine``), in pixel coordinates of the padded batch.
        min_box_size: See :func:`warp_boxes`.
        min_box_visible: See :func:`warp_boxes`.
        seg_ignore_index: See :func:`warp_label_map`.

    Returns:
        A new list of samples (warped copies, or the originals where nothing moves);
        ``data_samples`` itself when no sample has anything to move (or it is ``None``).
    """
    if data_samples is None:
        return None
    samples = list(data_samples)
    if len(samples) > affines.shape[0]:
        raise ValueError(f'{len(samples)} data samples but only {affines.shape[0]} affines')
    warped = [
        warp_data_sample(sample, affines[i], min_box_size, min_box_visible, seg_ignore_index)
        for i, sample in enumerate(samples)
    ]
    if all(new is old for new, old in zip(warped, samples)):
        return data_samples
    return warped


def clip_boxes_to_image(sample: Any, min_box_size: float = 1e-3) -> Any:
    """Return a copy of a data sample whose boxes are clipped to its ``img_shape``.

    Boxes left narrower or lower than ``min_box_size`` (zero-size annotations, boxes entirely
    outside the image) are dropped with every other field of their instance; instance masks
    are set to 0 outside the image. Label maps are left as they are.

    Args:
        sample: A data sample with ``img_shape`` metainfo.
        min_box_size: See :func:`warp_boxes`.

    Returns:
        A shallow copy with new instance fields; ``sample`` is never modified.
    """
    img_shape = sample.metainfo['img_shape']
    eye = torch.eye(3)[:2]
    out = sample.new()
    for name in INSTANCE_FIELDS:
        if name in sample and 'bboxes' in sample.get(name):
            setattr(out, name,
                    _warp_instances(sample.get(name), eye, img_shape, min_box_size, 0.0))
    return out
