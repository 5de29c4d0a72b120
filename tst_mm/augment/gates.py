"""Relaxed Bernoulli (binary Concrete) gates that decide which ops apply to which sample."""
import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ['relaxed_bernoulli', 'GATE_SKIP', 'open_gates', 'add_gated_change']

#: Gates at or below this skip their op for that image (their term is below float precision).
GATE_SKIP = 1e-6


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


def open_gates(gate: Tensor) -> Tensor:
    """Indices of the samples whose gate exceeds :data:`GATE_SKIP`, the only ones an op runs
    on (the others' terms, and their gradients, are below float precision of a ``[0, 1]``
    pixel), which saves the op's cost on the samples its probability leaves out."""
    return (gate.detach() > GATE_SKIP).nonzero().flatten()


def add_gated_change(out: Tensor, active: Tensor, gate: Tensor, img: Tensor,
                     changed: Tensor) -> Tensor:
    """``out`` plus one op's gated change ``gate * (changed - img)`` on the samples ``active``.

    Args:
        out: ``(B, C, H, W)`` running blend of the batch.
        active: ``(A,)`` indices of the samples the op ran on (:func:`open_gates`).
        gate: ``(A,)`` their gates.
        img: ``(A, C, H, W)`` their images before the op.
        changed: ``(A, C, H, W)`` their images after it.

    Returns:
        A new ``(B, C, H, W)`` tensor (``out`` is not modified).
    """
    term = gate.view(-1, 1, 1, 1) * (changed - img)
    if active.numel() == out.shape[0]:
        return out + term
    return out.index_add(0, active, term)
