"""Tests of tst_mm.losses.StudentWeaknessLoss (TST's inverted CE on the student)."""
import numpy as np
import pytest
import torch

from tst_mm.losses import StudentWeaknessLoss


def np_weakness(z, y, eps):
    """mean_i -log(1 - p_i[y_i] + eps) in float64."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return np.mean(-np.log(1 - p[np.arange(len(y)), y] + eps))


def test_weakness_hand_value():
    # p = (1/2, 1/4, 1/4) for logits (log 2, 0, 0): -log(1 - 1/2) = log 2 and -log(3/4).
    z = torch.tensor([[np.log(2.0), 0.0, 0.0], [np.log(2.0), 0.0, 0.0]], dtype=torch.float32)
    loss = StudentWeaknessLoss(eps=0.0)(z, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx((np.log(2.0) + np.log(4.0 / 3.0)) / 2, rel=1e-6)


def test_weakness_matches_numpy_with_eps():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(6, 5)) * 3, rng.integers(0, 5, size=6)
    for eps in (0.0, 1e-6, 1e-2):
        loss = StudentWeaknessLoss(eps=eps)(torch.tensor(z, dtype=torch.float32),
                                            torch.tensor(y))
        assert loss.item() == pytest.approx(np_weakness(z, y, eps), rel=1e-5)


def test_minimising_lowers_true_class_probability():
    torch.manual_seed(0)
    z = torch.randn(8, 10, requires_grad=True)
    y = torch.randint(0, 10, (8, ))
    p_before = torch.softmax(z, 1).gather(1, y[:, None]).detach()
    opt = torch.optim.SGD([z], lr=1.0)
    StudentWeaknessLoss()(z, y).backward()
    opt.step()
    p_after = torch.softmax(z, 1).gather(1, y[:, None]).detach()
    assert torch.all(p_after < p_before)


def test_weakness_finite_when_student_is_certain():
    z = torch.tensor([[1e4, 0.0, 0.0], [0.0, -1e4, 1e4]], requires_grad=True)
    y = torch.tensor([0, 2])
    loss = StudentWeaknessLoss()(z, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert loss.item() == pytest.approx(-np.log(1e-6), rel=1e-4)  # saturates at -log(eps)
    # Exact form: per sample 1e4 - log(2) and 1e4 - log(1 + e^-1e4) = 1e4; still finite.
    exact = StudentWeaknessLoss(eps=0.0)(z, y)
    assert exact.item() == pytest.approx(1e4 - np.log(2.0) / 2, rel=1e-6)
    half = StudentWeaknessLoss()(z.detach().half(), y)
    assert half.dtype == torch.float32 and torch.isfinite(half)


def test_weakness_ignore_index_and_dense_vs_flat():
    torch.manual_seed(0)
    z = torch.randn(2, 4, 3, 3)
    y = torch.randint(0, 4, (2, 3, 3))
    y[0, 0, :] = 255
    y[1, 2, 1] = 255
    weakness = StudentWeaknessLoss(ignore_index=255)
    loss = weakness(z, y)
    flat_z, flat_y = z.permute(0, 2, 3, 1).reshape(-1, 4), y.reshape(-1)
    keep = flat_y != 255
    assert loss.item() == pytest.approx(
        weakness(flat_z[keep], flat_y[keep]).item(), rel=1e-6)
    assert loss.item() == pytest.approx(
        np_weakness(flat_z[keep].double().numpy(), flat_y[keep].numpy(), 1e-6), rel=1e-5)
    # Flattened input with ignore labels gives the same value; (N, 1, H, W) labels accepted.
    assert weakness(flat_z, flat_y).item() == pytest.approx(loss.item(), rel=1e-6)
    assert weakness(z, y[:, None]).item() == pytest.approx(loss.item(), rel=1e-6)


def test_weakness_ignores_no_label_unless_configured():
    """Class 255 of a 1000-class dataset (ImageNet) is a class, not an ignore label."""
    torch.manual_seed(0)
    z, y = torch.randn(3, 1000), torch.tensor([255, 3, 255])
    expected = np_weakness(z.double().numpy(), y.numpy(), 1e-6)
    assert StudentWeaknessLoss()(z, y).item() == pytest.approx(expected, rel=1e-4)
    # configured, or passed per call (as the segmentation adapter does), 255 is left out
    only_3 = np_weakness(z[1:2].double().numpy(), y[1:2].numpy(), 1e-6)
    assert StudentWeaknessLoss(ignore_index=255)(z, y).item() == pytest.approx(only_3, rel=1e-4)
    assert StudentWeaknessLoss()(z, y, ignore_index=255).item() == pytest.approx(only_3,
                                                                                rel=1e-4)


def test_weakness_all_ignored_is_graph_connected_zero():
    z = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = StudentWeaknessLoss(ignore_index=-1)(z, torch.full((1, 2, 2), -1))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(z.grad == 0)


def test_weakness_loss_weight_weight_and_avg_factor():
    z, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    base = StudentWeaknessLoss()(z, y).item()
    assert StudentWeaknessLoss(loss_weight=0.3)(z, y).item() == pytest.approx(0.3 * base,
                                                                              rel=1e-6)
    w = torch.tensor([1.0, 0.0, 1.0, 0.0])
    weighted = StudentWeaknessLoss()(z, y, weight=w, avg_factor=2.0).item()
    assert weighted == pytest.approx(StudentWeaknessLoss()(z[[0, 2]], y[[0, 2]]).item(),
                                     rel=1e-5)
