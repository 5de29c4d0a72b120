"""Label geometry: boxes, instance masks and label maps move exactly with the pixels."""
import copy
import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.structures import InstanceData, PixelData

from tst_mm.augment import LearnableAugmenter
from tst_mm.augment.geometry import (
    rotate_matrix,
    shear_x_matrix,
    shear_y_matrix,
    translate_x_matrix,
    translate_y_matrix,
)
from tst_mm.augment.label_geometry import (
    apply_label_geometry,
    warp_bitmap_masks,
    warp_boxes,
    warp_data_sample,
    warp_label_map,
)

EYE = torch.eye(3)[:2]
MAKERS = [shear_x_matrix, shear_y_matrix, translate_x_matrix, translate_y_matrix, rotate_matrix]
RANGES = [0.3, 0.3, 0.45, 0.45, 30.0]


def affine(a, b, c, d, e, f):
    return torch.tensor([[a, b, c], [d, e, f]], dtype=torch.float32)


def random_affine(gen, height, width):
    """A random composition like the augmenter's: I + sum_k g_k (H_k - I)."""
    sizes = torch.tensor([[float(height), float(width)]])
    mat = torch.eye(3)
    for maker, high in zip(MAKERS, RANGES):
        value = (torch.rand((), generator=gen) * 2 - 1) * high
        gate = torch.rand((), generator=gen).round()
        mat = mat + gate * (maker(value, sizes)[0] - torch.eye(3))
    return mat[:2]


def rect_masks(gen, num, height, width, canvas=None):
    """Random blob masks (rectangles with holes) and their tight boxes, within (h, w)."""
    canvas = canvas or (height, width)
    masks = np.zeros((num, *canvas), dtype=np.uint8)
    boxes = []
    for k in range(num):
        x1 = int(torch.randint(0, width - 4, (), generator=gen))
        y1 = int(torch.randint(0, height - 4, (), generator=gen))
        x2 = int(torch.randint(x1 + 3, width + 1, (), generator=gen))
        y2 = int(torch.randint(y1 + 3, height + 1, (), generator=gen))
        masks[k, y1:y2, x1:x2] = 1
        masks[k, (y1 + y2) // 2, x1 + 1:x2 - 1] = 0  # a hole that keeps the tight box
        boxes.append([x1, y1, x2, y2])
    return masks, torch.tensor(boxes, dtype=torch.float32).view(-1, 4)


def det_sample(boxes, labels, img_shape, masks=None, canvas=None, box_type=None,
               ignored=None, sem_seg=None):
    canvas = canvas or tuple(img_shape)
    sample = DetDataSample(metainfo=dict(img_shape=tuple(img_shape), pad_shape=canvas,
                                         batch_input_shape=canvas))
    inst = InstanceData()
    inst.bboxes = boxes if box_type is None else box_type(boxes)
    inst.labels = torch.as_tensor(labels, dtype=torch.long)
    if masks is not None:
        inst.masks = BitmapMasks(masks, *masks.shape[1:])
    sample.gt_instances = inst
    if ignored is not None:
        sample.ignored_instances = InstanceData(
            bboxes=ignored, labels=torch.zeros(len(ignored), dtype=torch.long))
    if sem_seg is not None:
        sample.gt_sem_seg = PixelData(sem_seg=sem_seg)
    return sample


# ---------------------------------------------------------------------------- identity
def test_identity_returns_the_sample_itself():
    sample = det_sample(torch.tensor([[1., 2., 10., 12.]]), [3], (20, 30))
    assert warp_data_sample(sample, EYE) is sample
    assert apply_label_geometry([sample], EYE[None])[0] is sample
    assert apply_label_geometry(None, EYE[None]) is None


def test_identity_functions_change_nothing():
    gen = torch.Generator().manual_seed(0)
    masks, boxes = rect_masks(gen, 5, 20, 30, canvas=(32, 32))
    new_boxes, keep = warp_boxes(boxes, EYE, (20, 30))
    assert keep.all() and torch.equal(new_boxes, boxes)
    warped = warp_bitmap_masks(BitmapMasks(masks, 32, 32), EYE, (20, 30))
    assert np.array_equal(warped.masks, masks)
    seg = torch.randint(0, 5, (1, 20, 30))
    assert torch.equal(warp_label_map(seg, EYE, (20, 30)), seg)


def test_augmenter_identity_policy_leaves_samples_unchanged():
    aug = LearnableAugmenter(num_ops=None, geometric_mode='compose',
                             init_probability_logit=-20.0)
    gen = torch.Generator().manual_seed(1)
    masks, boxes = rect_masks(gen, 3, 24, 24)
    sample = det_sample(boxes, [0, 1, 2], (24, 24), masks=masks)
    _, out = aug(torch.rand(1, 3, 24, 24), [sample])
    assert torch.equal(aug.last_affine[0], EYE)
    assert torch.equal(out[0].gt_instances.bboxes, boxes)
    assert np.array_equal(out[0].gt_instances.masks.masks, masks)


# ---------------------------------------------------------------------------- known maps
def test_translation_moves_box_by_the_offset():
    new, keep = warp_boxes(torch.tensor([[10., 10., 20., 30.]]), affine(1, 0, 5, 0, 1, -3),
                           (100, 100))
    assert keep.all()
    torch.testing.assert_close(new, torch.tensor([[15., 7., 25., 27.]]))


def test_rotation_by_90_degrees_about_the_centre():
    # Positive angles turn clockwise on screen (y down): (x, y) -> (100 - y, x) about (50, 50).
    mat = rotate_matrix(torch.tensor(90.0), torch.tensor([[100.0, 100.0]]))[0]
    torch.testing.assert_close(mat[:2], affine(0, -1, 100, 1, 0, 0), atol=1e-5, rtol=0)
    new, keep = warp_boxes(torch.tensor([[10., 20., 30., 60.]]), mat, (100, 100))
    assert keep.all()
    torch.testing.assert_close(new, torch.tensor([[40., 10., 80., 30.]]), atol=1e-4, rtol=0)


def test_rotation_by_45_degrees_encloses_the_rotated_square():
    mat = rotate_matrix(torch.tensor(45.0), torch.tensor([[100.0, 100.0]]))[0]
    new, _ = warp_boxes(torch.tensor([[40., 40., 60., 60.]]), mat, (100, 100))
    half = 10 * math.sqrt(2)
    torch.testing.assert_close(new, torch.tensor([[50 - half, 50 - half, 50 + half,
                                                   50 + half]]), atol=1e-4, rtol=0)


def test_shear_clips_to_the_image_and_drops_by_visible_fraction():
    # x' = x + 0.5 (y - 50): corners of [10, 10, 20, 30] go to x in [-10, 10]; half is visible.
    mat = shear_x_matrix(torch.tensor(0.5), torch.tensor([[100.0, 100.0]]))[0]
    new, keep = warp_boxes(torch.tensor([[10., 10., 20., 30.]]), mat, (100, 100),
                           min_box_visible=0.4)
    assert keep.all()
    torch.testing.assert_close(new, torch.tensor([[0., 10., 10., 30.]]), atol=1e-5, rtol=0)
    _, keep = warp_boxes(torch.tensor([[10., 10., 20., 30.]]), mat, (100, 100),
                         min_box_visible=0.6)
    assert not keep.any()


def test_degenerate_boxes_are_dropped():
    boxes = torch.tensor([[0., 0., 10., 10.], [95., 0., 100., 10.], [50., 50., 50.5, 60.]])
    new, keep = warp_boxes(boxes, affine(1, 0, 4.5, 0, 1, 0), (100, 100), min_box_visible=0.0)
    # the second box keeps 0.5 px of width, the third was thinner than 1 px to start with
    assert keep.tolist() == [True, False, False]
    assert new[1, 2] == 100.0


# ---------------------------------------------------------------------------- properties
@pytest.mark.parametrize('seed', range(3))
def test_random_affines_keep_boxes_inside_their_image_and_masks_inside_boxes(seed):
    gen = torch.Generator().manual_seed(seed)
    canvas = (48, 56)
    for _ in range(30):
        h = int(torch.randint(16, 49, (), generator=gen))
        w = int(torch.randint(16, 57, (), generator=gen))
        num = int(torch.randint(0, 6, (), generator=gen))
        masks, boxes = rect_masks(gen, num, h, w, canvas=canvas)
        labels = torch.randint(0, 10, (num, ), generator=gen)
        sample = det_sample(boxes, labels, (h, w), masks=masks, canvas=canvas)
        sample.gt_instances.ids = torch.arange(num)  # another per-instance field
        before = copy.deepcopy(sample)
        mat = random_affine(gen, h, w)
        out = warp_data_sample(sample, mat, min_box_size=1.0, min_box_visible=0.1)

        # the caller's sample is untouched and the metainfo is unchanged
        assert torch.equal(sample.gt_instances.bboxes, before.gt_instances.bboxes)
        assert np.array_equal(sample.gt_instances.masks.masks, before.gt_instances.masks.masks)
        assert out.metainfo == before.metainfo

        inst = out.gt_instances
        b = inst.bboxes
        assert len(b) == len(inst.labels) == len(inst.masks) == len(inst.ids)
        assert set(inst.labels.tolist()) <= set(labels.tolist())
        assert torch.equal(inst.labels, labels[inst.ids])
        if len(b):
            assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
            assert (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
            assert ((b[:, 2] - b[:, 0]) >= 1).all() and ((b[:, 3] - b[:, 1]) >= 1).all()
        warped = inst.masks.masks
        assert warped.shape[1:] == canvas
        assert not warped[:, h:].any() and not warped[:, :, w:].any()  # padding stays empty
        for k in range(len(b)):
            rows, cols = np.nonzero(warped[k])
            if len(rows):  # every mask pixel centre lies in its box
                x1, y1, x2, y2 = b[k].tolist()
                assert (cols + 0.5 >= x1 - 1e-3).all() and (cols + 0.5 <= x2 + 1e-3).all()
                assert (rows + 0.5 >= y1 - 1e-3).all() and (rows + 0.5 <= y2 + 1e-3).all()


def test_boxes_follow_the_mask_they_enclose():
    gen = torch.Generator().manual_seed(5)
    masks, boxes = rect_masks(gen, 1, 40, 40)
    mat = affine(1, 0, 3, 0, 1, 2)  # an integer shift moves mask pixels exactly
    out = warp_data_sample(det_sample(boxes, [1], (40, 40), masks=masks), mat)
    rows, cols = np.nonzero(out.gt_instances.masks.masks[0])
    tight = torch.tensor([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]],
                         dtype=torch.float32)
    expected = (boxes + torch.tensor([3., 2., 3., 2.])).clamp(max=40)
    torch.testing.assert_close(out.gt_instances.bboxes, expected)
    torch.testing.assert_close(tight, expected)


def test_sample_left_without_boxes():
    gen = torch.Generator().manual_seed(2)
    masks, boxes = rect_masks(gen, 3, 30, 30)
    sample = det_sample(boxes, [0, 1, 2], (30, 30), masks=masks,
                        ignored=torch.tensor([[1., 1., 5., 5.]]))
    out = warp_data_sample(sample, affine(1, 0, 60, 0, 1, 0))  # everything leaves the image
    assert len(out.gt_instances) == 0 and len(out.gt_instances.masks) == 0
    assert out.gt_instances.bboxes.shape == (0, 4)
    assert len(out.ignored_instances) == 0
    empty = det_sample(torch.zeros(0, 4), [], (30, 30), masks=np.zeros((0, 30, 30), np.uint8))
    out = warp_data_sample(empty, affine(1, 0, 2, 0, 1, 0))
    assert len(out.gt_instances) == 0 and out.gt_instances.masks.masks.shape == (0, 30, 30)


def test_box_types_and_ignored_instances_are_kept_in_step():
    boxes = torch.tensor([[10., 10., 20., 20.], [0., 0., 4., 4.]])
    sample = det_sample(boxes, [1, 2], (50, 50), box_type=HorizontalBoxes,
                        ignored=torch.tensor([[30., 30., 40., 40.]]))
    out = warp_data_sample(sample, affine(1, 0, -5, 0, 1, 0))
    assert isinstance(out.gt_instances.bboxes, HorizontalBoxes)
    torch.testing.assert_close(out.gt_instances.bboxes.tensor,
                               torch.tensor([[5., 10., 15., 20.]]))
    assert out.gt_instances.labels.tolist() == [1]
    torch.testing.assert_close(out.ignored_instances.bboxes, torch.tensor([[25., 30., 35., 40.]]))
    assert isinstance(sample.gt_instances.bboxes, HorizontalBoxes)
    assert len(sample.gt_instances) == 2


def test_polygon_masks_move_their_vertices():
    polys = PolygonMasks([[np.array([10., 10., 20., 10., 20., 20.])]], 40, 40)
    sample = det_sample(torch.tensor([[10., 10., 20., 20.]]), [0], (40, 40))
    sample.gt_instances.masks = polys
    out = warp_data_sample(sample, affine(1, 0, 2, 0, 1, 3))
    np.testing.assert_allclose(out.gt_instances.masks.masks[0][0], [12, 13, 22, 13, 22, 23])


def test_rotated_boxes_are_refused():
    sample = det_sample(torch.zeros(1, 5), [0], (10, 10))  # cx, cy, w, h, angle
    with pytest.raises(ValueError, match=r'expected \(N, 4\)'):
        warp_data_sample(sample, affine(1, 0, 1, 0, 1, 0))


# ---------------------------------------------------------------------------- label maps
def test_labelled_square_moves_and_outside_becomes_ignore():
    seg = torch.zeros(1, 64, 64, dtype=torch.long)
    seg[0, 20:30, 40:50] = 3
    out = warp_label_map(seg, affine(1, 0, 5, 0, 1, 7), (64, 64))
    expected = torch.full_like(seg, 255)
    expected[0, 7:, 5:] = 0
    expected[0, 27:37, 45:55] = 3
    assert torch.equal(out, expected)


@pytest.mark.parametrize('seed', range(2))
def test_label_maps_gain_no_new_ids_and_padding_stays_ignored(seed):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(20):
        h = int(torch.randint(8, 33, (), generator=gen))
        w = int(torch.randint(8, 41, (), generator=gen))
        seg = torch.full((1, 32, 40), 255, dtype=torch.uint8)
        seg[:, :h, :w] = torch.randint(0, 7, (1, h, w), generator=gen).to(torch.uint8)
        out = warp_label_map(seg, random_affine(gen, h, w), (h, w), ignore_index=255)
        assert out.dtype == seg.dtype and out.shape == seg.shape
        assert set(out.unique().tolist()) <= set(seg.unique().tolist()) | {255}
        assert (out[:, h:] == 255).all() and (out[:, :, w:] == 255).all()


def test_seg_ignore_index_is_configurable_and_mmseg_fields_move():
    sample = DetDataSample(metainfo=dict(img_shape=(8, 8)))
    sample.gt_sem_seg = PixelData(data=torch.ones(1, 8, 8, dtype=torch.long))
    out = warp_data_sample(sample, affine(1, 0, 2, 0, 1, 0), seg_ignore_index=-1)
    assert (out.gt_sem_seg.data[0, :, :2] == -1).all()
    assert (out.gt_sem_seg.data[0, :, 2:] == 1).all()
    assert (sample.gt_sem_seg.data == 1).all()


# ---------------------------------------------------------------------------- augmenter
def test_augmenter_moves_labels_with_the_pixels_in_a_mixed_size_batch():
    """A bright square drawn in each image ends up where its warped mask and box say."""
    torch.manual_seed(0)
    aug = LearnableAugmenter(ops=['translate_x', 'translate_y', 'rotate', 'shear_x'],
                             num_ops=None, geometric_mode='compose', fill=0.0,
                             init_probability_logit=20.0, init_magnitude_logit=-0.5)
    canvas = (64, 72)
    shapes = [(64, 72), (40, 50)]
    images = torch.zeros(2, 3, *canvas)
    samples = []
    for i, (h, w) in enumerate(shapes):
        masks = np.zeros((1, *canvas), dtype=np.uint8)
        masks[0, h // 4:h // 2, w // 4:w // 2] = 1
        images[i, :, h // 4:h // 2, w // 4:w // 2] = 1.0
        images[i, :, h:, :] = 0.5  # padding content must not move into the image
        images[i, :, :, w:] = 0.5
        boxes = torch.tensor([[w // 4, h // 4, w // 2, h // 2]], dtype=torch.float32)
        samples.append(det_sample(boxes, [i], (h, w), masks=masks, canvas=canvas,
                                  sem_seg=torch.from_numpy(masks.astype(np.int64))))
    before = copy.deepcopy(samples)
    out_images, out_samples = aug(images, samples)
    assert out_samples is not samples
    for i, (h, w) in enumerate(shapes):
        assert torch.equal(samples[i].gt_instances.bboxes, before[i].gt_instances.bboxes)
        inst = out_samples[i].gt_instances
        bright = out_images[i, 0, :h, :w] > 0.5
        mask = torch.from_numpy(inst.masks.masks[0, :h, :w]).bool()
        inter = (bright & mask).sum().item()
        union = (bright | mask).sum().item()
        assert union > 0 and inter / union > 0.8
        seg = out_samples[i].gt_sem_seg.sem_seg[0]
        assert torch.equal(seg[:h, :w] == 1, mask)  # map and mask sampled alike
        assert (seg[h:] == 255).all() and (seg[:, w:] == 255).all()
        rows, cols = torch.nonzero(bright, as_tuple=True)
        x1, y1, x2, y2 = inst.bboxes[0].tolist()
        assert cols.min() >= x1 - 1 and cols.max() + 1 <= x2 + 1
        assert rows.min() >= y1 - 1 and rows.max() + 1 <= y2 + 1
        assert x2 <= w and y2 <= h  # clipped to its own image, not to the canvas
        assert (out_images[i, :, h:] == 0.5).all()  # padding restored
        assert out_samples[i].metainfo == before[i].metainfo


def test_blend_mode_with_geometric_ops_refuses_boxes():
    aug = LearnableAugmenter(ops=['rotate', 'brightness'], num_ops=None,
                             geometric_mode='blend')
    sample = det_sample(torch.tensor([[1., 1., 5., 5.]]), [0], (8, 8))
    with pytest.raises(ValueError, match="geometric_mode='compose'"):
        aug(torch.rand(1, 3, 8, 8), [sample])
    colour_only = LearnableAugmenter(ops=['brightness'], num_ops=None, geometric_mode='blend')
    _, out = colour_only(torch.rand(1, 3, 8, 8), [sample])
    assert out[0] is sample


def test_warp_boxes_maps_the_four_corners_as_written_out():
    """mmdet's HorizontalBoxes.project_/clip_ give exactly the corner map, min/max and clip."""
    torch.manual_seed(3)
    boxes = torch.rand(64, 2) * 40
    boxes = torch.cat([boxes, boxes + torch.rand(64, 2) * 30 + 1], dim=1)
    affine = torch.tensor([[0.9, 0.2, 3.5], [-0.15, 1.1, -2.25]])
    new, keep = warp_boxes(boxes, affine, (48, 56), min_box_size=1.0, min_box_visible=0.1)
    b, a = boxes.double(), affine.double()
    xs = torch.stack([b[:, 0], b[:, 2], b[:, 0], b[:, 2]], dim=1)
    ys = torch.stack([b[:, 1], b[:, 1], b[:, 3], b[:, 3]], dim=1)
    px = a[0, 0] * xs + a[0, 1] * ys + a[0, 2]
    py = a[1, 0] * xs + a[1, 1] * ys + a[1, 2]
    area = (px.amax(1) - px.amin(1)) * (py.amax(1) - py.amin(1))
    expected = torch.stack([px.amin(1).clamp(0, 56), py.amin(1).clamp(0, 48),
                            px.amax(1).clamp(0, 56), py.amax(1).clamp(0, 48)], dim=1)
    assert torch.equal(new, expected.float())
    width, height = expected[:, 2] - expected[:, 0], expected[:, 3] - expected[:, 1]
    assert torch.equal(keep, (width >= 1) & (height >= 1) & (width * height >= 0.1 * area))
    assert 0 < int(keep.sum()) < len(boxes)  # some boxes leave the image, most stay
