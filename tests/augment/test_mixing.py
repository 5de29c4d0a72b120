"""The mixing ops (MixUp, CutMix) of the augmenter: pixels, targets, gradient, refusals."""
import pytest
import torch
from mmengine.structures import BaseDataElement

from tst_mm.augment import MIX, OP_NAMES, LearnableAugmenter
from tst_mm.augment.mixing import match_soft_targets
from tst_mm.augment.ops import build_op
from tst_mm.distill.task_adapters import (
    ClassificationAdapter,
    DetectionAdapter,
    SegmentationAdapter,
)
from tst_mm.errors import ConfigError

NUM_CLASSES = 5
MEAN, STD = 72.9, 90.0


def smooth_images(batch, channels, height, width, seed=0):
    """Smooth random images in [0.1, 0.9], every image different from every other."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, channels, height // 4, width // 4, generator=gen)
    img = torch.nn.functional.interpolate(coarse, size=(height, width), mode='bilinear',
                                          align_corners=False)
    return 0.1 + 0.8 * img


def normalise(img01, channels=1):
    return (img01 * 255.0 - MEAN) / STD


def denormalise(x, channels=1):
    return (x * STD + MEAN) / 255.0


def build(ops, **kwargs):
    """A 1-channel augmenter whose ops always apply (gates at 1.0 in float32)."""
    kwargs.setdefault('init_probability_logit', 30.0)
    return LearnableAugmenter(ops=ops, num_ops=None, mean=[MEAN], std=[STD],
                              num_classes=NUM_CLASSES, **kwargs)


def labelled(num):
    return [BaseDataElement(gt_label=torch.tensor([i % NUM_CLASSES]),
                            metainfo=dict(img_shape=(12, 16))) for i in range(num)]


def expected_score(label, partner_label, share):
    score = torch.zeros(NUM_CLASSES)
    score[label] += 1.0 - share
    score[partner_label] += share
    return score


def test_mixing_ops_learn_only_a_probability_and_are_not_in_the_default_pool():
    for name in ('mixup', 'cutmix'):
        op = build_op(name)
        assert op.kind == MIX and not op.learnable_magnitude
        assert name not in OP_NAMES
    aug = build(['mixup', 'contrast'])
    assert aug.op_names == ['mixup', 'contrast'] and aug.magnitude_op_names == ['contrast']
    assert aug.mixes and not LearnableAugmenter().mixes
    assert aug.policy()['mixup']['magnitude'] is None


def test_mixup_blends_each_image_with_its_partner_and_mixes_the_targets_alike():
    torch.manual_seed(0)
    img = smooth_images(8, 1, 12, 16)
    samples = labelled(8)
    aug = build(['mixup'])
    with torch.no_grad():
        out, mixed = aug(normalise(img, 1), samples)
    partners = aug.last_partners
    assert sorted(partners.tolist()) == list(range(8))
    result = denormalise(out, 1)
    checked = 0
    for i, j in enumerate(partners.tolist()):
        assert torch.equal(mixed[i].gt_label, samples[i].gt_label)  # the image mixed into
        if j == i:  # its own partner: nothing changes
            torch.testing.assert_close(result[i], img[i], atol=1e-5, rtol=0)
            continue
        # the ratio read from the pixels: result = img_i + s (img_j - img_i), least squares
        direction = img[j] - img[i]
        share = float(((result[i] - img[i]) * direction).sum() / (direction ** 2).sum())
        torch.testing.assert_close(result[i], img[i] + share * direction, atol=1e-5, rtol=0)
        assert 0.0 < share < 1.0
        assert share == pytest.approx(float(aug.last_partner_shares[i]), abs=1e-4)
        torch.testing.assert_close(
            mixed[i].gt_score, expected_score(i % NUM_CLASSES, j % NUM_CLASSES, share),
            atol=1e-4, rtol=0)
        checked += 1
    assert checked >= 4
    assert len(set(round(float(s), 4) for s in aug.last_partner_shares)) > 2  # per image
    assert all('gt_score' not in sample for sample in samples)  # the inputs are not modified


def test_cutmix_pastes_a_box_of_the_partner_and_mixes_the_targets_by_its_area():
    torch.manual_seed(1)
    img = smooth_images(8, 1, 12, 16)
    samples = labelled(8)
    aug = build(['cutmix'])
    out, mixed = aug(normalise(img, 1), samples)
    result = denormalise(out, 1)
    checked = 0
    for i, j in enumerate(aug.last_partners.tolist()):
        if j == i:
            continue
        own = (result[i] - img[i]).abs()[0] < 1e-5
        pasted = (result[i] - img[j]).abs()[0] < 1e-5
        assert bool((own | pasted).all())  # every pixel is the image's or its partner's
        pasted &= ~own
        rows, cols = pasted.any(dim=1), pasted.any(dim=0)
        assert torch.equal(pasted, rows[:, None] & cols[None, :])  # one rectangle
        for line in (rows, cols):  # of consecutive rows and columns
            index = line.nonzero().flatten()
            if index.numel():
                assert int(index[-1] - index[0]) + 1 == index.numel()
        area = float(pasted.float().mean())
        assert area == pytest.approx(float(aug.last_partner_shares[i]), abs=1e-6)
        torch.testing.assert_close(
            mixed[i].gt_score, expected_score(i % NUM_CLASSES, j % NUM_CLASSES, area),
            atol=1e-6, rtol=0)
        checked += area > 0
    assert checked >= 3


def test_cutmix_box_has_the_drawn_area_and_the_image_aspect_when_inside():
    torch.manual_seed(2)
    from tst_mm.augment.mixing import cutmix
    from tst_mm.augment.region import ValidRegion
    img = torch.zeros(400, 1, 40, 80)
    partner = torch.ones(400, 1, 40, 80)
    region = ValidRegion(sizes=torch.tensor([[40.0, 80.0]]).expand(400, 2), mask=None)
    torch.manual_seed(2)
    mixed, share = cutmix(img, partner, torch.tensor(1.0), region)
    torch.manual_seed(2)  # the same draws: area and centre
    area = torch.distributions.Beta(torch.ones(400), torch.ones(400)).sample()
    centres = torch.rand((400, 2)) * torch.tensor([40.0, 80.0])
    side = area.sqrt()[:, None] * torch.tensor([40.0, 80.0])
    inside = ((centres - side / 2 >= 0) & (centres + side / 2 <= torch.tensor([40.0, 80.0]))
              ).all(dim=1) & (side.amin(dim=1) > 8)
    assert int(inside.sum()) > 20
    box = mixed[inside, 0] > 0.5
    heights = box.any(dim=2).sum(dim=1).float()
    widths = box.any(dim=1).sum(dim=1).float()
    torch.testing.assert_close(heights, side[inside, 0], atol=1.0, rtol=0)
    torch.testing.assert_close(widths, side[inside, 1], atol=1.0, rtol=0)
    torch.testing.assert_close(share[inside], area[inside], atol=0.06, rtol=0)
    torch.testing.assert_close(share, mixed.mean(dim=(1, 2, 3)))  # share = area pasted


def test_gradient_reaches_the_probability_logit_of_each_mixing_op():
    torch.manual_seed(0)
    aug = build(['mixup', 'cutmix', 'contrast'], init_probability_logit=0.0, temperature=1.0)
    x = normalise(smooth_images(8, 1, 12, 16), 1)
    out, _ = aug(x, labelled(8))
    (out * torch.linspace(-1.0, 1.0, out.numel()).view_as(out)).sum().backward()
    grad = aug.probability_logits.grad
    assert torch.isfinite(grad).all()
    assert grad[0].abs() > 0 and grad[1].abs() > 0


def test_no_mixing_op_drawn_keeps_one_hot_targets():
    torch.manual_seed(0)
    aug = build(['mixup', 'contrast'], init_probability_logit=-30.0)
    _, mixed = aug(normalise(smooth_images(4, 1, 12, 16), 1), labelled(4))
    for i, sample in enumerate(mixed):
        assert torch.equal(sample.gt_score, expected_score(i % NUM_CLASSES, 0, 0.0))


def test_clean_samples_get_one_hot_targets_beside_mixed_ones():
    clean = labelled(3)
    assert match_soft_targets(clean, clean) == clean  # nothing mixed: the same samples
    augmented = [BaseDataElement(gt_label=torch.tensor([0]), gt_score=torch.full((4, ), .25))]
    matched = match_soft_targets(augmented, clean)
    assert [s.gt_score.tolist() for s in matched] == [[1., 0, 0, 0], [0, 1., 0, 0],
                                                      [0, 0, 1., 0]]
    assert all('gt_score' not in sample for sample in clean)


def test_mixing_ops_without_the_number_of_classes_are_refused_when_they_need_it():
    aug = LearnableAugmenter(ops=['mixup'], num_ops=None)
    with pytest.raises(ConfigError, match='need the number of classes'):
        aug(torch.rand(2, 1, 8, 8), labelled(2))
    aug(torch.rand(2, 1, 8, 8), None)  # images alone: no targets to write


@pytest.mark.parametrize('adapter', [DetectionAdapter, SegmentationAdapter])
def test_detection_and_segmentation_refuse_the_mixing_ops(adapter):
    for mode in ('blend', 'compose'):
        aug = LearnableAugmenter(ops=['contrast', 'cutmix'], geometric_mode=mode)
        with pytest.raises(ConfigError, match=r"mixing ops \['cutmix'\] are "
                                              'classification-only'):
            adapter.check_augmenter(aug, student=None)


def test_classification_adapter_gives_the_augmenter_the_number_of_classes():
    head = torch.nn.Module()
    head.num_classes, head.cal_acc = 7, False
    student = torch.nn.Module()
    student.head = head
    aug = LearnableAugmenter(ops=['mixup'])
    ClassificationAdapter.check_augmenter(aug, student)
    assert aug.num_classes == 7
    head.cal_acc = True
    with pytest.raises(ConfigError, match='cal_acc=False'):
        ClassificationAdapter.check_augmenter(aug, student)
    plain = LearnableAugmenter(ops=['contrast'])
    ClassificationAdapter.check_augmenter(plain, student)  # no mixing ops: no rule
    assert plain.num_classes is None
