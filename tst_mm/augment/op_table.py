"""The augmentation op pool: one table with every op's kind, range and implementation.

A learnable magnitude ``m`` in ``(0, 1)`` maps to the op's parameter as
``value = sign * (low + (high - low) * m)``, where ``sign`` is +1 or -1 drawn once per batch
for signed ops and +1 otherwise. Ranges follow RandAugment's at its strongest magnitude:

============  ==========  ==============================  ============================
op            kind        value at m = 0 -> m = 1          meaning of value
============  ==========  ==============================  ============================
brightness    colour      0 -> 0.9, signed                 factor 1 + value
color         colour      0 -> 0.9, signed                 factor 1 + value (RGB only)
contrast      colour      0 -> 0.9, signed                 factor 1 + value
sharpness     colour      0 -> 0.9, signed                 factor 1 + value
posterize     colour      8 -> 4                           bits kept (rounded)
solarize      colour      1 -> 0                           threshold in [0, 1]
shear_x       geometric   0 -> 0.3, signed                 shear coefficient
shear_y       geometric   0 -> 0.3, signed                 shear coefficient
translate_x   geometric   0 -> 0.45, signed                fraction of the valid width
translate_y   geometric   0 -> 0.45, signed                fraction of the valid height
rotate        geometric   0 -> 30, signed                  degrees
equalize      fixed       -                                (only probability learnt)
invert        fixed       -                                (only probability learnt)
cutout        fixed       0.25                             square side / shorter side
============  ==========  ==============================  ============================

Colour and fixed ops map an image in ``[0, 1]`` to another (:mod:`.pixel_ops`); geometric
ops map per-image valid sizes to ``(B, 3, 3)`` forward affine matrices (:mod:`.geometry`).
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from ..errors import ConfigError
from . import geometry, pixel_ops

__all__ = ['OpSpec', 'OP_TABLE', 'OP_NAMES', 'resolve_ops']

COLOUR = 'colour'
GEOMETRIC = 'geometric'
FIXED = 'fixed'


@dataclass(frozen=True)
class OpSpec:
    """One op of the pool.

    Attributes:
        name: The op's name in configs and policies.
        kind: ``'colour'`` (pixel op with a learnable magnitude), ``'geometric'`` (affine op
            with a learnable magnitude) or ``'fixed'`` (pixel op, only its probability is
            learnt).
        low: Parameter value at magnitude 0.
        high: Parameter value at magnitude 1 (equal to ``low`` for fixed ops).
        signed: Whether a random sign (one per batch) multiplies the value.
        fn: ``fn(img, value, region)`` for pixel ops, ``fn(value, sizes)`` returning forward
            matrices for geometric ops.
    """

    name: str
    kind: str
    low: float
    high: float
    signed: bool
    fn: Callable

    @property
    def learnable_magnitude(self) -> bool:
        """Whether the op has a magnitude logit."""
        return self.kind != FIXED


def _spec(name: str, kind: str, low: float, high: float, signed: bool,
          fn: Callable) -> OpSpec:
    return OpSpec(name=name, kind=kind, low=low, high=high, signed=signed, fn=fn)


OP_TABLE: 'OrderedDict[str, OpSpec]' = OrderedDict((s.name, s) for s in [
    _spec('brightness', COLOUR, 0.0, 0.9, True, pixel_ops.brightness),
    _spec('color', COLOUR, 0.0, 0.9, True, pixel_ops.color),
    _spec('contrast', COLOUR, 0.0, 0.9, True, pixel_ops.contrast),
    _spec('sharpness', COLOUR, 0.0, 0.9, True, pixel_ops.sharpness),
    _spec('posterize', COLOUR, 8.0, 4.0, False, pixel_ops.posterize),
    _spec('solarize', COLOUR, 1.0, 0.0, False, pixel_ops.solarize),
    _spec('shear_x', GEOMETRIC, 0.0, 0.3, True, geometry.shear_x_matrix),
    _spec('shear_y', GEOMETRIC, 0.0, 0.3, True, geometry.shear_y_matrix),
    _spec('translate_x', GEOMETRIC, 0.0, 0.45, True, geometry.translate_x_matrix),
    _spec('translate_y', GEOMETRIC, 0.0, 0.45, True, geometry.translate_y_matrix),
    _spec('rotate', GEOMETRIC, 0.0, 30.0, True, geometry.rotate_matrix),
    _spec('equalize', FIXED, 0.0, 0.0, False, pixel_ops.equalize),
    _spec('invert', FIXED, 0.0, 0.0, False, pixel_ops.invert),
    _spec('cutout', FIXED, 0.25, 0.25, False, pixel_ops.cutout),
])

#: All op names, in the pool's canonical order.
OP_NAMES: List[str] = list(OP_TABLE)


def resolve_ops(names: Optional[Sequence[str]]) -> List[OpSpec]:
    """Look up op names in the pool.

    Args:
        names: Op names, or ``None`` for the whole pool.

    Returns:
        The ops' specs, in the given order.

    Raises:
        ValueError: If a name is unknown, repeated, or the list is empty.
    """
    if names is None:
        return list(OP_TABLE.values())
    if isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in OP_TABLE]
    if unknown:
        raise ConfigError(f'Unknown augmentation op(s) {unknown}; valid names are {OP_NAMES}.')
    if len(set(names)) != len(names):
        raise ConfigError(f'Augmentation ops listed more than once: {names}.')
    if not names:
        raise ConfigError(f'At least one augmentation op is needed; valid names are {OP_NAMES}.')
    return [OP_TABLE[n] for n in names]
