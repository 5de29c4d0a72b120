"""Tests of tst_mm.losses.DKDLoss against a direct NumPy formula."""
import numpy as np
import pytest
import torch

from tst_mm.losses import DKDLoss, KDLoss


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_dkd_terms(s, t, y, tau):
    """Per-sample TCKD and NCKD (without tau^2) straight from their definitions."""
    tckd, nckd = [], []
    for i in range(s.shape[0]):
        p_s, p_t = np_softmax(s[i] / tau), np_softmax(t[i] / tau)
        b_s = np.array([p_s[y[i]], 1 - p_s[y[i]]])
        b_t = np.array([p_t[y[i]], 1 - p_t[y[i]]])
        tckd.append(np.sum(b_t * np.log(b_t / b_s)))
        others = [c for c in range(s.shape[1]) if c != y[i]]
        q_s = p_s[others] / p_s[others].sum()
        q_t = p_t[others] / p_t[others].sum()
        nckd.append(np.sum(q_t * np.log(q_t / q_s)))
    return np.array(tckd), np.array(nckd)


def test_dkd_hand_value():
    s = np.array([[2.0, 1.0, 0.1, -1.0], [0.0, 0.5, 1.0, 3.0], [1.0, 1.0, 1.0, 0.0]])
    t = np.array([[3.0, 0.0, 0.5, -2.0], [0.0, 0.0, 2.0, 1.0], [0.0, 2.0, 1.0, 1.0]])
    y = np.array([0, 2, 1])
    tau, alpha, beta = 2.0, 1.5, 4.0
    tckd, nckd = np_dkd_terms(s, t, y, tau)
    expected = tau**2 * (alpha * tckd.mean() + beta * nckd.mean())
    loss = DKDLoss(alpha=alpha, beta=beta, tau=tau)(
        torch.tensor(s, dtype=torch.float32), torch.tensor(t, dtype=torch.float32),
        torch.tensor(y))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_dkd_decomposes_kd_for_one_sample():
    # The DKD identity: KL = TCKD + (1 - p^t_y) * NCKD.
    torch.manual_seed(1)
    s, t, y = torch.randn(1, 6), torch.randn(1, 6), torch.tensor([3])
    p_t_y = torch.softmax(t / 4.0, dim=1)[0, 3].item()
    kd = KDLoss(tau=4.0)(s, t).item()
    tckd = DKDLoss(alpha=1.0, beta=0.0)(s, t, y).item()
    nckd = DKDLoss(alpha=0.0, beta=1.0)(s, t, y).item()
    assert kd == pytest.approx(tckd + (1 - p_t_y) * nckd, rel=1e-4)


def test_dkd_zero_when_equal_grad_only_to_student_and_weight():
    s = torch.randn(4, 5, requires_grad=True)
    y = torch.tensor([0, 1, 2, 4])
    assert DKDLoss()(s, s.detach().clone(), y).item() == pytest.approx(0.0, abs=1e-5)
    t = torch.randn(4, 5, requires_grad=True)
    loss = DKDLoss()(s, t, y)
    loss.backward()
    assert t.grad is None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    assert DKDLoss(loss_weight=3.0)(s, t, y).item() == pytest.approx(3 * loss.item(), rel=1e-6)


def test_dkd_finite_when_confident():
    s = torch.tensor([[1e4, 0.0, 0.0]], requires_grad=True)
    t = torch.tensor([[0.0, 1e4, 0.0]])
    loss = DKDLoss()(s, t, torch.tensor([0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
