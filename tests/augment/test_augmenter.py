"""Tests of the learnable augmenter: identity, ops, gradients, padding, policy, compose mode."""
import json

import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.structures import BaseDataElement

from tst_mm.augment import OP_NAMES, LearnableAugmenter, relaxed_bernoulli
from tst_mm.augment.ops import build_op

MEAN = {1: [72.9], 3: [123.675, 116.28, 103.53]}
STD = {1: [90.0], 3: [58.395, 57.12, 57.375]}
LEARNABLE = [n for n in OP_NAMES if build_op(n).learnable_magnitude]


def smooth_images(batch, channels, height, width, low=0.1, high=0.9, seed=0):
    """Smooth random images in [low, high] (upsampled noise, so ops act like on photos)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, channels, max(height // 4, 2), max(width // 4, 2), generator=gen)
    img = torch.nn.functional.interpolate(coarse, size=(height, width), mode='bilinear',
                                          align_corners=False)
    img = (img - img.amin()) / (img.amax() - img.amin())
    return low + (high - low) * img


def normalise(img01, channels):
    mean = torch.tensor(MEAN[channels]).view(1, -1, 1, 1)
    std = torch.tensor(STD[channels]).view(1, -1, 1, 1)
    return (img01 * 255.0 - mean) / std


def denormalise(x, channels):
    mean = torch.tensor(MEAN[channels]).view(1, -1, 1, 1)
    std = torch.tensor(STD[channels]).view(1, -1, 1, 1)
    return (x * std + mean) / 255.0


def build(channels=3, **kwargs):
    return LearnableAugmenter(mean=MEAN[channels], std=STD[channels], **kwargs)


def samples_with_shape(shapes):
    return [BaseDataElement(metainfo=dict(img_shape=s)) for s in shapes]


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('mode', ['blend', 'compose'])
def test_identity_when_no_op_applies(channels, mode):
    aug = build(channels, num_ops=None, init_probability_logit=-20.0, geometric_mode=mode)
    x = normalise(smooth_images(2, channels, 16, 20), channels)
    out, samples = aug(x, None)
    assert samples is None
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    if mode == 'compose':
        torch.testing.assert_close(aug.last_affine, torch.eye(3)[:2].expand(2, 2, 3))


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('op', OP_NAMES)
def test_each_op_changes_image_within_range(op, channels):
    torch.manual_seed(0)
    aug = build(channels, ops=[op], num_ops=1, init_probability_logit=20.0,
                init_magnitude_logit=1.0)
    x = normalise(smooth_images(2, channels, 32, 32, low=0.3, high=0.6), channels)
    out, _ = aug(x, None)
    assert aug.last_ops == [op]
    pixels = denormalise(out, channels)
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    if op == 'color' and channels != 3:
        torch.testing.assert_close(out, x, atol=1e-5, rtol=0)  # documented identity
    else:
        assert (out - x).abs().max() > 1e-2, op


@pytest.mark.parametrize('op', LEARNABLE)
def test_gradient_reaches_magnitude_of_each_op(op):
    torch.manual_seed(1)
    aug = build(3, ops=[op], num_ops=1, init_probability_logit=20.0)
    x = normalise(smooth_images(2, 3, 16, 16), 3)
    out, _ = aug(x, None)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    grad = aug.magnitude_logits.grad
    assert torch.isfinite(grad).all() and grad.abs().item() > 0, op


@pytest.mark.parametrize('mode', ['blend', 'compose'])
def test_gradient_reaches_every_logit(mode):
    torch.manual_seed(2)
    # a soft relaxation, so no gate saturates (saturated gates carry no gradient, by design)
    aug = build(3, num_ops=None, geometric_mode=mode, temperature=1.0)
    x = normalise(smooth_images(8, 3, 16, 16), 3)
    out, _ = aug(x, samples_with_shape([(16, 16)] * 4 + [(12, 14)] * 4))
    (out * torch.randn_like(out)).sum().backward()
    for grad in (aug.magnitude_logits.grad, aug.probability_logits.grad):
        assert torch.isfinite(grad).all()
        assert (grad.abs() > 0).all(), grad


@pytest.mark.parametrize('mode', ['blend', 'compose'])
@pytest.mark.parametrize('channels', [1, 3])
def test_padding_restored_and_never_pulled_in(mode, channels):
    """A padded batch gives, inside the image, what the unpadded batch gives."""
    h, w, ph, pw = 14, 18, 24, 22
    img = smooth_images(2, channels, h, w)
    unpadded = normalise(img, channels)
    padded = torch.full((2, channels, ph, pw), 7.5)  # distinctive, far outside the image range
    padded[:, :, :h, :w] = unpadded
    kwargs = dict(num_ops=None, geometric_mode=mode, init_probability_logit=3.0,
                  init_magnitude_logit=0.5)
    aug = build(channels, **kwargs)

    torch.manual_seed(3)
    ref, _ = aug(unpadded, None)
    ref_affine = aug.last_affine
    torch.manual_seed(3)
    samples = samples_with_shape([(h, w, channels)] * 2)
    out, returned = aug(padded, samples)
    assert returned is samples

    outside = torch.ones_like(padded, dtype=torch.bool)
    outside[:, :, :h, :w] = False
    assert torch.equal(out[outside], padded[outside])
    torch.testing.assert_close(out[:, :, :h, :w], ref, atol=2e-4, rtol=0)
    if mode == 'compose':
        torch.testing.assert_close(aug.last_affine, ref_affine)


def test_geometric_fill_is_zero_not_padding():
    """Shifting left brings in fill (0), never the padding to the image's right."""
    aug = build(1, ops=['translate_x'], num_ops=1, geometric_mode='compose',
                policy={'translate_x': {'magnitude': 2 / 3, 'probability': 1.0}})
    img = smooth_images(1, 1, 8, 10, low=0.5, high=0.9)
    padded = torch.full((1, 1, 8, 16), 7.5)
    padded[..., :10] = normalise(img, 1)
    signs = set()
    for seed in range(8):
        torch.manual_seed(seed)
        out, _ = aug(padded, samples_with_shape([(8, 10)]))
        shift = aug.last_affine[0, 0, 2].item()  # 0.45 * 2/3 * 10 = +/-3 pixels
        assert abs(abs(shift) - 3.0) < 1e-4
        signs.add(shift > 0)
        pixels = denormalise(out, 1)[0, 0, :, :10]
        uncovered = pixels[:, :3] if shift > 0 else pixels[:, 7:]
        assert uncovered.abs().max() < 1e-4
        assert torch.equal(out[..., 10:], padded[..., 10:])
    assert signs == {True, False}


def test_unknown_op_name():
    with pytest.raises(ValueError, match='blur') as err:
        LearnableAugmenter(ops=['brightness', 'blur'])
    assert 'translate_x' in str(err.value)


@pytest.mark.parametrize('channels', [1, 3])
def test_policy_round_trip_and_frozen(tmp_path, channels):
    aug = build(channels, ops=['brightness', 'rotate', 'invert', 'cutout'], num_ops=2)
    with torch.no_grad():
        aug.magnitude_logits.copy_(torch.tensor([0.7, -1.2]))
        aug.probability_logits.copy_(torch.tensor([1.5, -0.3, 0.2, -2.0]))
    path = tmp_path / 'policy.json'
    aug.save_policy(path)
    saved = json.loads(path.read_text())
    assert saved['invert']['magnitude'] is None
    assert saved['rotate']['magnitude'] == pytest.approx(torch.sigmoid(torch.tensor(-1.2)).item())

    frozen = ROOT_MODELS.build(
        dict(type='tst_mm.LearnableAugmenter', policy=str(path), trainable=False, num_ops=2,
             mean=MEAN[channels], std=STD[channels]))
    assert isinstance(frozen, LearnableAugmenter)
    assert frozen.op_names == aug.op_names
    for name, entry in aug.policy().items():
        assert frozen.policy()[name]['probability'] == pytest.approx(entry['probability'])
        assert frozen.policy()[name]['magnitude'] == pytest.approx(entry['magnitude'])
    assert not any(p.requires_grad for p in frozen.parameters())
    with torch.no_grad():
        x = normalise(smooth_images(2, channels, 12, 12), channels)
        out, _ = frozen(x, None)
    assert out.shape == x.shape and not out.requires_grad


def test_policy_with_foreign_op_is_rejected():
    aug = LearnableAugmenter(ops=['brightness'])
    with pytest.raises(ValueError, match='rotate'):
        aug.load_policy({'rotate': {'magnitude': 0.5, 'probability': 0.5}})


@pytest.mark.parametrize('mode', ['compose', 'blend'])
def test_translate_x_shifts_by_expected_pixels(mode):
    torch.manual_seed(4)
    width = 20  # 0.45 * m * 20 = 3 pixels for m = 1/3
    aug = build(1, ops=['translate_x'], num_ops=1, init_probability_logit=20.0,
                policy={'translate_x': {'magnitude': 1 / 3, 'probability': 1.0}},
                geometric_mode=mode)
    img = smooth_images(2, 1, 12, width)
    out, _ = aug(normalise(img, 1), None)
    pixels = denormalise(out, 1)
    if mode == 'compose':
        expected = torch.eye(3)[:2].repeat(2, 1, 1)
        expected[:, 0, 2] = aug.last_affine[0, 0, 2].sign() * 3.0
        torch.testing.assert_close(aug.last_affine, expected, atol=1e-4, rtol=0)
    right = (pixels[..., 3:] - img[..., :-3]).abs().max() < 1e-3
    left = (pixels[..., :-3] - img[..., 3:]).abs().max() < 1e-3
    assert right or left
    uncovered = pixels[..., :3] if right else pixels[..., -3:]
    assert uncovered.abs().max() < 1e-4
    if mode == 'compose':
        assert right == bool(aug.last_affine[0, 0, 2] > 0)


def test_brightness_matches_formula():
    torch.manual_seed(5)
    aug = build(3, ops=['brightness'], num_ops=1, init_probability_logit=20.0,
                init_magnitude_logit=0.0)
    img = smooth_images(2, 3, 8, 8)
    out, _ = aug(normalise(img, 3), None)
    pixels = denormalise(out, 3)
    # m = sigmoid(0) = 0.5 -> factor 1 +/- 0.45 (sign drawn per batch), PIL: blend with black.
    candidates = [(img * (1 + s * 0.45)).clamp(0, 1) for s in (1.0, -1.0)]
    assert any(torch.allclose(pixels, c, atol=1e-5) for c in candidates)


def test_contrast_matches_formula():
    from tst_mm.augment import pixel_ops
    from tst_mm.augment.region import ValidRegion
    img = smooth_images(1, 3, 6, 6)
    region = ValidRegion.from_data_samples(img, None)
    out = pixel_ops.contrast(img, torch.tensor(0.5), region)
    gray = 0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2]
    expected = (gray.mean() + 1.5 * (img - gray.mean())).clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_posterize_and_solarize_exact_forward():
    from tst_mm.augment import pixel_ops
    from tst_mm.augment.region import ValidRegion
    levels = torch.arange(256, dtype=torch.float32).view(1, 1, 16, 16)
    img = levels / 255.0
    region = ValidRegion.from_data_samples(img, None)
    post = pixel_ops.posterize(img, torch.tensor(5.2), region)  # 5 bits
    torch.testing.assert_close(post * 255.0, levels - levels % 8, atol=1e-4, rtol=0)
    sol = pixel_ops.solarize(img, torch.tensor(0.5), region)
    torch.testing.assert_close(sol, torch.where(img >= 0.5, 1 - img, img))


def test_gates_use_the_logit():
    torch.manual_seed(6)
    gates = relaxed_bernoulli(torch.tensor([2.0, -1.0]), 20000, 0.05)
    expected = torch.sigmoid(torch.tensor([2.0, -1.0]))
    torch.testing.assert_close(gates.mean(0), expected, atol=0.02, rtol=0)
    assert ((gates < 0.01) | (gates > 0.99)).float().mean() > 0.9


def test_num_ops_draw_is_reproducible():
    aug = LearnableAugmenter()
    x = smooth_images(2, 3, 8, 8)
    torch.manual_seed(7)
    first, _ = aug(x, None)
    ops = aug.last_ops
    torch.manual_seed(7)
    second, _ = aug(x, None)
    assert len(ops) == 4 and aug.last_ops == ops
    torch.testing.assert_close(first, second)


def test_set_normalization_and_channel_check():
    aug = LearnableAugmenter(num_ops=None, init_probability_logit=-20.0)
    x01 = smooth_images(1, 3, 8, 8)
    torch.testing.assert_close(aug(x01, None)[0], x01, atol=1e-6, rtol=0)
    aug.set_normalization([120.0, 110.0], [50.0, 60.0])
    with pytest.raises(ValueError, match='channels'):
        aug(x01, None)
    with pytest.raises(ValueError):
        aug.set_normalization(MEAN[3], None)


def test_float64_and_requires_grad_inputs():
    aug = build(3, num_ops=None, geometric_mode='compose')
    x = normalise(smooth_images(2, 3, 10, 10), 3).double().requires_grad_()
    out, _ = aug(x, None)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('mode', ['blend', 'compose'])
def test_cuda_matches_cpu(mode):
    ops = [n for n in OP_NAMES if n != 'cutout']  # cutout centres come from the device RNG
    kwargs = dict(ops=ops, num_ops=None, geometric_mode=mode, init_probability_logit=20.0,
                  init_magnitude_logit=-0.5)
    x = normalise(smooth_images(2, 3, 32, 24), 3)
    samples = samples_with_shape([(32, 24), (20, 18)])
    torch.manual_seed(8)
    cpu = build(3, **kwargs)
    ref, _ = cpu(x, samples)
    torch.manual_seed(8)
    gpu = build(3, **kwargs).cuda()
    out, _ = gpu(x.cuda(), samples)
    (out * out).sum().backward()
    assert torch.isfinite(gpu.magnitude_logits.grad).all()
    # Step ops (solarize, posterize) may flip a pixel sitting exactly on a threshold.
    assert (out.cpu() - ref).abs().gt(2e-3).float().mean() < 0.01


@pytest.mark.parametrize('mode', ['blend', 'compose'])
def test_skipping_closed_gates_changes_nothing(mode, monkeypatch):
    """Ops run only where their gate is open; the result and gradients match running them all."""
    import tst_mm.augment.gates as gates_module
    x = normalise(smooth_images(8, 3, 16, 16), 3)
    results = []
    for skip in (gates_module.GATE_SKIP, -1.0):  # -1: every op on every image
        monkeypatch.setattr(gates_module, "GATE_SKIP", skip)
        torch.manual_seed(5)
        # cutout draws its squares' centres per active image, so it is left out here
        aug = build(3, ops=[n for n in OP_NAMES if n != 'cutout'], num_ops=None,
                    geometric_mode=mode, init_magnitude_logit=0.5)
        out, _ = aug(x, samples_with_shape([(16, 16)] * 4 + [(12, 14)] * 4))
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append((out.detach(), aug.magnitude_logits.grad, aug.probability_logits.grad,
                        aug.last_gates))
    (out_skip, mag_skip, prob_skip, gates), (out_all, mag_all, prob_all, _) = results
    assert ((gates > 0) & (gates <= 1e-6)).any(), 'the seed must close some gates'
    torch.testing.assert_close(out_skip, out_all, atol=1e-5, rtol=0)
    torch.testing.assert_close(mag_skip, mag_all, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(prob_skip, prob_all, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('op', OP_NAMES)
def test_non_finite_image_stays_non_finite_without_raising(op):
    """A diverged (NaN) image must not crash an op; it reaches the output for the NaN guard."""
    x = normalise(smooth_images(2, 3, 16, 16), 3)
    x[0, :, 3:5, 3:5] = float('nan')
    aug = build(3, ops=[op], num_ops=None, init_probability_logit=10.0)
    out, _ = aug(x, samples_with_shape([(16, 16)] * 2))
    assert not torch.isfinite(out[0]).all()
    assert torch.isfinite(out[1]).all()


SIGNED = [n for n in OP_NAMES if build_op(n).signed]


def test_positive_signs_never_give_a_negative_op_value():
    aug = build(1, signs='positive', init_magnitude_logit=1.0)
    img = normalise(smooth_images(2, 1, 16, 16), 1)
    drawn = set()
    for seed in range(40):
        torch.manual_seed(seed)
        aug(img)
        assert aug.last_signs == [1.0] * len(aug.last_ops)
        for name, sign in zip(aug.last_ops, aug.last_signs):
            assert float(aug._op_value(build_op(name), sign, img)) >= 0.0
        drawn.update(aug.last_ops)
    assert set(SIGNED) <= drawn  # every signed op was drawn and checked
    with pytest.raises(ValueError, match='signs must be one of'):
        build(1, signs='negative')


@pytest.mark.parametrize('signs, can_darken', [('positive', False), ('random', True)])
def test_sign_mode_decides_the_direction_of_brightness(signs, can_darken):
    aug = build(1, ops=['brightness'], num_ops=1, init_probability_logit=20.0,
                init_magnitude_logit=0.0, signs=signs)
    img = normalise(smooth_images(4, 1, 16, 16, low=0.3, high=0.6), 1)
    changes = []
    for seed in range(12):
        torch.manual_seed(seed)
        out, _ = aug(img)
        changes.append(float((denormalise(out, 1) - denormalise(img, 1)).mean()))
    assert all(abs(c) > 0.05 for c in changes)  # the op applied every time
    assert any(c < 0 for c in changes) is can_darken
    assert any(c > 0 for c in changes)


def test_the_augmenter_asks_its_task_for_the_label_rules():
    from tst_mm.augment.label_rules import LabelRule
    from tst_mm.errors import ConfigError

    class Task:
        """What an adapter of a task with one rule answers."""

        def label_rules(self):
            return {'seg_ignore_index': LabelRule(7, 'the head ignores 7')}

    aug = LearnableAugmenter(ops=['rotate'], geometric_mode='compose')
    assert (aug.seg_ignore_index, aug.min_box_size, aug.min_box_visible) == (255, 1.0, 0.1)
    aug.follow_task(Task())
    assert aug.seg_ignore_index == 7 and isinstance(aug.seg_ignore_index, int)
    sample = BaseDataElement()
    sample.gt_sem_seg = BaseDataElement(data=torch.zeros(1, 8, 8, dtype=torch.long))
    sample.set_metainfo(dict(img_shape=(8, 8)))
    with torch.no_grad():
        aug.probability_logits.fill_(20.0)
        aug.magnitude_logits.fill_(5.0)
        _, (out, ) = aug(torch.rand(1, 3, 8, 8), [sample])
    assert 7 in out.gt_sem_seg.data  # pixels from outside the image take the task's index
    LearnableAugmenter(seg_ignore_index=7, min_box_size=2.0).follow_task(Task())  # agrees
    with pytest.raises(ConfigError, match=r'^the augmenter marks pixels from outside the image '
                                          r'with seg_ignore_index=0 but the head ignores 7; '
                                          r'set augmenter seg_ignore_index=7 or drop the '
                                          r'setting$'):
        LearnableAugmenter(seg_ignore_index=0).follow_task(Task())


def test_initial_weight_of_x_prime():
    """A weight of 1 is logit 0 (what the runs before this option started from); 0 gives a
    finite logit whose weight is below float precision of a loss; bad values are refused."""
    assert build(1).x_prime_weight() is None
    assert build(1, learn_x_prime_weight=True).x_prime_weight_logit.item() == 0.0
    half = build(1, learn_x_prime_weight=True, init_x_prime_weight=0.5)
    assert half.x_prime_weight().item() == pytest.approx(0.5)
    zero = build(1, learn_x_prime_weight=True, init_x_prime_weight=0.0)
    assert zero.x_prime_weight_logit.item() == -30.0
    assert 0.0 < zero.x_prime_weight().item() < 1e-12
    (zero.x_prime_weight() * 3.0).backward()
    assert torch.isfinite(zero.x_prime_weight_logit.grad)
    for bad in (dict(learn_x_prime_weight=True, init_x_prime_weight=2.0),
                dict(learn_x_prime_weight=True, init_x_prime_weight=-0.1),
                dict(init_x_prime_weight=0.0)):
        with pytest.raises(ValueError, match='init_x_prime_weight must be in'):
            build(1, **bad)
