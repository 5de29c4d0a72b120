"""Tests of tst_mm.losses.DISTLoss against NumPy's Pearson correlation."""
import numpy as np
import pytest
import torch

from tst_mm.losses import DISTLoss


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_dist(s, t, beta, gamma, tau):
    y_s, y_t = np_softmax(s / tau), np_softmax(t / tau)
    inter = 1 - np.mean([np.corrcoef(y_s[i], y_t[i])[0, 1] for i in range(s.shape[0])])
    intra = 1 - np.mean([np.corrcoef(y_s[:, j], y_t[:, j])[0, 1] for j in range(s.shape[1])])
    return tau**2 * (beta * inter + gamma * intra)


def test_dist_hand_value():
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    loss = DISTLoss(beta=2.0, gamma=0.5, tau=3.0)(
        torch.tensor(s, dtype=torch.float32), torch.tensor(t, dtype=torch.float32))
    assert loss.item() == pytest.approx(np_dist(s, t, 2.0, 0.5, 3.0), rel=1e-4)


def test_dist_zero_when_equal_grad_only_to_student_and_weight():
    s = torch.randn(6, 5, requires_grad=True)
    assert DISTLoss()(s, s.detach().clone()).item() == pytest.approx(0.0, abs=1e-5)
    t = torch.randn(6, 5, requires_grad=True)
    loss = DISTLoss()(s, t)
    loss.backward()
    assert t.grad is None and s.grad.abs().sum() > 0
    assert DISTLoss(loss_weight=0.5)(s, t).item() == pytest.approx(0.5 * loss.item(), rel=1e-6)


def test_dist_batch_of_one_has_finite_grad():
    s = torch.randn(1, 5, requires_grad=True)
    loss = DISTLoss()(s, torch.randn(1, 5))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
