"""Every loss runs unchanged on CUDA, also under fp16 autocast (skipped without a GPU)."""
import pytest
import torch

from tst_mm.losses import (
    ChannelWiseDivergenceLoss,
    DISTLoss,
    DKDLoss,
    FeatureMSELoss,
    KDLoss,
    StudentWeaknessLoss,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')


def _calls(device):
    s = torch.randn(4, 5, device=device, requires_grad=True)
    t = torch.randn(4, 5, device=device)
    y = torch.tensor([0, 1, 2, 255], device=device)
    f_s = torch.randn(2, 3, 4, 4, device=device, requires_grad=True)
    f_t = torch.randn(2, 3, 8, 8, device=device)
    return [
        (s, lambda: KDLoss()(s, t)),
        (s, lambda: DKDLoss()(s, t, y.clamp(max=4))),
        (s, lambda: DISTLoss()(s, t)),
        (s, lambda: StudentWeaknessLoss()(s, y)),
        (f_s, lambda: FeatureMSELoss(normalize=True)(f_s, f_t)),
        (f_s, lambda: ChannelWiseDivergenceLoss()(f_s, f_t)),
    ]


@pytest.mark.parametrize('autocast', [False, True])
def test_losses_on_cuda(autocast):
    for leaf, call in _calls('cuda'):
        with torch.autocast('cuda', dtype=torch.float16, enabled=autocast):
            loss = call()
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(leaf.grad).all()
        leaf.grad = None
