"""Boxes that reach a detection step: clipped to their image, and instance containers of
each model's own."""
from typing import List, Sequence

import torch
from mmengine.logging import MMLogger

from ....augment.label_geometry import INSTANCE_FIELDS, clip_boxes_to_image

__all__ = ['boxes_outside', 'own_instances', 'BoxClipper']


def boxes_outside(samples: Sequence) -> List[int]:
    """Indices of samples with a box outside its ``img_shape`` or without area."""
    rows, limits, owners = [], [], []
    for i, sample in enumerate(samples):
        shape = sample.metainfo.get('img_shape')
        for name in INSTANCE_FIELDS:
            instances = sample.get(name) if shape is not None else None
            if instances is None or 'bboxes' not in instances or len(instances) == 0:
                continue
            boxes = instances.bboxes
            boxes = getattr(boxes, 'tensor', boxes)
            rows.append(boxes.float())
            limits.append(boxes.new_tensor([float(shape[1]), float(shape[0])],
                                           dtype=torch.float32).expand(len(boxes), 2))
            owners.extend([i] * len(boxes))
    if not rows:
        return []
    boxes, limit = torch.cat(rows), torch.cat(limits)
    tol = 1e-3
    bad = (boxes[:, :2] < -tol).any(1) | (boxes[:, 2:] > limit + tol).any(1)
    bad |= (boxes[:, 2] - boxes[:, 0] <= 0) | (boxes[:, 3] - boxes[:, 1] <= 0)
    if not bool(bad.any()):
        return []
    return sorted({owners[j] for j in torch.nonzero(bad).view(-1).tolist()})


def own_instances(samples: Sequence) -> List:
    """Shallow copies of the samples, each with instance containers of its own.

    Some mmdet heads replace fields of ``gt_instances`` while they compute their loss
    (RTMDet-Ins turns its masks into a tensor), which would change the samples under the next
    model that reads them (the student after the teacher in a search step).
    """
    return [sample.new(**{name: value.new() if name in INSTANCE_FIELDS else value
                          for name, value in sample.items()}) for sample in samples]


class BoxClipper:
    """Clip boxes outside their image (ones left without area are dropped with their labels
    and masks), naming the first such image in one warning per run."""

    def __init__(self) -> None:
        self.warned = False

    def __call__(self, data_samples: List) -> List:
        """The samples, with boxes outside their image clipped."""
        bad = boxes_outside(data_samples)
        if not bad:
            return data_samples
        if not self.warned:
            sample = data_samples[bad[0]]
            MMLogger.get_current_instance().warning(
                f'{sample.metainfo.get("img_path", "an image")}: annotation boxes outside the '
                f'image (img_shape {tuple(sample.metainfo["img_shape"])[:2]}) or without '
                'area; TST clips them to the image and drops empty ones (with their labels '
                'and masks). Warned once; check the annotation file or add clipping to the '
                'pipeline.')
            self.warned = True
        samples = list(data_samples)
        for i in bad:
            samples[i] = clip_boxes_to_image(samples[i])
        return samples
