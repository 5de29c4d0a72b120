"""Relaxed Bernoulli (binary Concrete) gates that decide which ops apply to which sample."""
import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ['relaxed_bernoulli']


def relaxed_bernoulli(logits: Tensor, batch_size: int, temperature: float) -> Tensor:
    """Draw one reparameterised binary-Concrete gate per sample and op.

    ``b = sigmoid((logit + log u - log(1 - u)) / temperature)`` with ``u ~ U(0, 1)``. As the
    temperature goes to 0, ``b`` becomes a Bernoulli draw with probability ``sigmoid(logit)``;
    the gradient reaches ``logits`` through the sigmoid. The *logit* enters here, not the
    probability ``sigmoid(logit)`` (passing the probability would cap the apply rate at
    ``sigmoid(1) ~ 0.73``).

    Args:
        logits: ``(K,)`` probability logits of the ops.
        batch_size: Number of samples ``B``.
        temperature: Concrete temperature (> 0); smaller is closer to binary.

    Returns:
        ``(B, K)`` gates in ``(0, 1)``, drawn with torch's RNG on the logits' device.
    """
    if temperature <= 0:
        raise ConfigError(f'temperature must be positive, got {temperature}.')
    eps = torch.finfo(logits.dtype).eps
    uniform = torch.rand((batch_size, ) + tuple(logits.shape), device=logits.device,
                         dtype=logits.dtype).clamp(eps, 1.0 - eps)
    noise = torch.log(uniform) - torch.log1p(-uniform)
    return torch.sigmoid((logits + noise) / temperature)
