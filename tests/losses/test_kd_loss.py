"""Tests of tst_mm.losses.KDLoss against a direct NumPy formula and its properties."""
import numpy as np
import pytest
import torch

from tst_mm.losses import KDLoss


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_kd(s, t, tau):
    """tau^2 * mean_i sum_c p_t log(p_t / p_s) in float64."""
    p_s, p_t = np_softmax(s / tau), np_softmax(t / tau)
    return tau**2 * np.mean(np.sum(p_t * np.log(p_t / p_s), axis=-1))


def test_kd_hand_value():
    s = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    t = np.array([[3.0, 2.0, 1.0], [0.0, 0.0, 2.0]])
    loss = KDLoss(tau=2.0)(torch.tensor(s, dtype=torch.float32), torch.tensor(t))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(np_kd(s, t, 2.0), rel=1e-5)


def test_kd_single_sample_by_hand():
    # tau = 1, s = (0, 0) -> p_s = (1/2, 1/2); t = (log 3, 0) -> p_t = (3/4, 1/4).
    expected = 0.75 * np.log(0.75 / 0.5) + 0.25 * np.log(0.25 / 0.5)
    loss = KDLoss(tau=1.0)(torch.zeros(1, 2), torch.tensor([[np.log(3.0), 0.0]]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_kd_zero_when_equal_and_grad_only_to_student():
    s = torch.randn(4, 7, requires_grad=True)
    t = s.detach().clone().requires_grad_(True)
    loss = KDLoss()(s, t)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss2 = KDLoss()(s, torch.randn(4, 7).requires_grad_(True))
    loss2.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_kd_teacher_gets_no_grad():
    s = torch.randn(3, 5, requires_grad=True)
    t = torch.randn(3, 5, requires_grad=True)
    KDLoss()(s, t).backward()
    assert t.grad is None and s.grad is not None


def test_kd_dense_matches_flattened_and_mask():
    torch.manual_seed(0)
    s = torch.randn(2, 4, 3, 5)
    t = torch.randn(2, 4, 3, 5)
    flat = lambda x: x.permute(0, 2, 3, 1).reshape(-1, 4)  # noqa: E731
    kd = KDLoss(tau=1.5)
    assert kd(s, t).item() == pytest.approx(kd(flat(s), flat(t)).item(), rel=1e-5)

    mask = torch.rand(2, 3, 5) > 0.4
    mask[0, 0, 0] = True
    sel = mask.reshape(-1)
    expected = np_kd(flat(s)[sel].double().numpy(), flat(t)[sel].double().numpy(), 1.5)
    assert kd(s, t, valid_mask=mask).item() == pytest.approx(expected, rel=1e-5)


def test_kd_empty_mask_is_graph_connected_zero():
    s = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = KDLoss()(s, torch.randn(1, 3, 2, 2), valid_mask=torch.zeros(1, 2, 2, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(s.grad == 0)


def test_kd_reductions_and_loss_weight():
    s, t = torch.randn(3, 4), torch.randn(3, 4)
    per = KDLoss(reduction='none')(s, t)
    assert per.shape == (3, )
    assert KDLoss(reduction='sum')(s, t).item() == pytest.approx(per.sum().item(), rel=1e-6)
    assert KDLoss()(s, t).item() == pytest.approx(per.mean().item(), rel=1e-6)
    assert KDLoss(loss_weight=2.5)(s, t).item() == pytest.approx(2.5 * per.mean().item(),
                                                                  rel=1e-6)
    dense = KDLoss(reduction='none')(torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5))
    assert dense.shape == (2, 4, 5)


def test_kd_half_precision_inputs_are_safe():
    s = torch.tensor([[6.0e4, 0.0, -6.0e4]], dtype=torch.float16)
    t = torch.tensor([[-6.0e4, 0.0, 6.0e4]], dtype=torch.float16)
    loss = KDLoss(tau=1.0)(s, t)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = KDLoss()(torch.randn(2, 5), torch.randn(2, 5))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_kd_rejects_bad_args():
    with pytest.raises(ValueError):
        KDLoss(tau=0.0)
    with pytest.raises(ValueError):
        KDLoss(reduction='mean')
    with pytest.raises(ValueError):
        KDLoss()(torch.randn(2, 3), torch.randn(2, 4))
