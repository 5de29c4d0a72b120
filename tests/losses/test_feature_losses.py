"""Tests of tst_mm.losses.FeatureMSELoss and ChannelWiseDivergenceLoss."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tst_mm.losses import ChannelWiseDivergenceLoss, FeatureMSELoss


def test_mse_hand_value_and_weight():
    s = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    t = torch.tensor([[[[0.0, 2.0], [5.0, 4.0]]]])
    assert FeatureMSELoss()(s, t).item() == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert FeatureMSELoss(loss_weight=2.0)(s, t).item() == pytest.approx(2.5)


def test_mse_resizes_teacher_to_student():
    # A per-channel constant teacher stays constant under bilinear resizing.
    s = torch.zeros(2, 3, 4, 4, requires_grad=True)
    t = torch.arange(3.0).view(1, 3, 1, 1).expand(2, 3, 8, 8).clone().requires_grad_(True)
    loss = FeatureMSELoss()(s, t)
    assert loss.item() == pytest.approx((0 + 1 + 4) / 3)
    loss.backward()
    assert t.grad is None and s.grad is not None
    # And equals the MSE against the explicitly interpolated teacher.
    s2, t2 = torch.randn(1, 2, 3, 5), torch.randn(1, 2, 6, 10)
    ref = F.interpolate(t2, size=(3, 5), mode='bilinear', align_corners=False)
    assert FeatureMSELoss()(s2, t2).item() == pytest.approx(((s2 - ref)**2).mean().item(),
                                                            rel=1e-6)


def test_mse_normalize_is_scale_invariant():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    loss = FeatureMSELoss(normalize=True)
    assert loss(10 * s + 3, t).item() == pytest.approx(loss(s, t).item(), rel=1e-4)
    assert loss(s, 2 * s - 1).item() == pytest.approx(0.0, abs=1e-5)


def np_cwd(s, t, tau):
    n, c = s.shape[:2]
    total = 0.0
    for i in range(n):
        for j in range(c):
            a, b = s[i, j].ravel() / tau, t[i, j].ravel() / tau
            p_s = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
            p_t = np.exp(b - b.max()) / np.exp(b - b.max()).sum()
            total += np.sum(p_t * np.log(p_t / p_s))
    return tau**2 * total / (n * c)


def test_cwd_hand_value():
    # One channel, two positions, tau 1: s = (0, 0), t = (log 3, 0).
    s = torch.zeros(1, 1, 1, 2)
    t = torch.tensor([[[[np.log(3.0), 0.0]]]], dtype=torch.float32)
    expected = 0.75 * np.log(1.5) + 0.25 * np.log(0.5)
    assert ChannelWiseDivergenceLoss()(s, t).item() == pytest.approx(expected, rel=1e-5)


def test_cwd_matches_numpy_zero_when_equal_and_grad_only_to_student():
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(2, 3, 3, 4))
    st = torch.tensor(s, dtype=torch.float32, requires_grad=True)
    tt = torch.tensor(t, dtype=torch.float32, requires_grad=True)
    loss = ChannelWiseDivergenceLoss(tau=2.0, loss_weight=3.0)(st, tt)
    assert loss.item() == pytest.approx(3.0 * np_cwd(s, t, 2.0), rel=1e-5)
    loss.backward()
    assert tt.grad is None and st.grad.abs().sum() > 0
    assert ChannelWiseDivergenceLoss()(st, st.detach()).item() == pytest.approx(0.0, abs=1e-6)


def test_cwd_resizes_teacher_and_is_half_safe():
    s, t = torch.randn(1, 2, 4, 4).half(), torch.randn(1, 2, 8, 8).half()
    loss = ChannelWiseDivergenceLoss()(s, t)
    ref = F.interpolate(t.float(), size=(4, 4), mode='bilinear', align_corners=False)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(ChannelWiseDivergenceLoss()(s.float(), ref).item(),
                                        rel=1e-5)
    with pytest.raises(ValueError):
        ChannelWiseDivergenceLoss()(torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4))
