"""The valid (unpadded) region of each image in a padded, stacked batch.

OpenMMLab data preprocessors pad every image at its bottom and right edges to a common batch
size and record the unpadded size as ``img_shape`` in each data sample's metainfo. The augmenter
must only look at, and only change, that top-left ``(h, w)`` region; :class:`ValidRegion` carries
it through the ops.
"""
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

__all__ = ['ValidRegion']


@dataclass
class ValidRegion:
    """Per-image valid sizes and the matching pixel mask of a padded batch.

    Attributes:
        sizes: ``(B, 2)`` tensor of valid ``(h, w)`` per image, in the work dtype and on the
            batch's device.
        mask: ``(B, 1, H, W)`` tensor, 1 inside the valid region and 0 on padding, or ``None``
            when every image fills the whole batch (the common classification case, which lets
            ops skip masking entirely).
    """

    sizes: Tensor
    mask: Optional[Tensor]

    @classmethod
    def from_data_samples(cls, inputs: Tensor,
                          data_samples: Optional[Sequence[Any]]) -> 'ValidRegion':
        """Read the valid region of every image from its data sample.

        A sample contributes its ``metainfo['img_shape']`` (``(h, w)`` or ``(h, w, c)``); a
        sample without one, or ``data_samples=None``, counts as filling the whole batch. Sizes
        larger than the batch are clipped to it.

        Args:
            inputs: The ``(B, C, H, W)`` batch.
            data_samples: The batch's data samples (mmengine ``BaseDataElement``-like objects
                with a ``metainfo`` dict, or plain dicts), or ``None``.

        Returns:
            The batch's valid region.
        """
        batch, _, height, width = inputs.shape
        dtype = inputs.dtype if inputs.is_floating_point() else torch.float32
        shapes = [(height, width)] * batch
        if data_samples is not None:
            for i, sample in enumerate(list(data_samples)[:batch]):
                shape = _img_shape(sample)
                if shape is not None:
                    shapes[i] = (min(int(shape[0]), height), min(int(shape[1]), width))
        sizes = torch.tensor(shapes, dtype=dtype).to(inputs.device, non_blocking=True)
        if all(s == (height, width) for s in shapes):
            return cls(sizes=sizes, mask=None)
        rows = torch.arange(height, device=inputs.device, dtype=dtype).view(1, 1, height, 1)
        cols = torch.arange(width, device=inputs.device, dtype=dtype).view(1, 1, 1, width)
        inside = (rows < sizes[:, 0].view(-1, 1, 1, 1)) & (cols < sizes[:, 1].view(-1, 1, 1, 1))
        return cls(sizes=sizes, mask=inside.to(dtype))

    def select(self, index: Tensor) -> 'ValidRegion':
        """The valid region of the images at ``index`` (a 1-D index into the batch)."""
        return ValidRegion(sizes=self.sizes[index],
                           mask=None if self.mask is None else self.mask[index])


def _img_shape(sample: Any) -> Optional[Sequence[int]]:
    """Return a data sample's ``img_shape`` metainfo, or ``None`` when it has none."""
    if isinstance(sample, dict):
        shape = sample.get('metainfo', sample).get('img_shape')
    else:
        # mm data elements expose metainfo keys as attributes; reading one directly avoids
        # rebuilding the whole metainfo dict per sample (``.metainfo`` copies it)
        shape = getattr(sample, 'img_shape', None)
        if shape is None and hasattr(sample, 'get'):
            shape = sample.get('img_shape')
    if shape is None or len(shape) < 2:
        return None
    return shape
