"""The augmentation op pool: each op a class registered in ``tst_mm.registry.AUGMENT_OPS``.

A learnable magnitude ``m`` in ``(0, 1)`` maps to the op's parameter as
``value = sign * (low + (high - low) * m)``, where ``sign`` is +1 or -1 drawn once per batch
for signed ops and +1 otherwise. Ranges follow RandAugment's at its strongest magnitude:

============  ==========  ==============================  ============================
op            kind        value at m = 0 -> m = 1          meaning of value
============  ==========  ==============================  ============================
brightness    color       0 -> 0.9, signed                 factor 1 + value
color         color       0 -> 0.9, signed                 factor 1 + value (RGB only)
contrast      color       0 -> 0.9, signed                 factor 1 + value
sharpness     color       0 -> 0.9, signed                 factor 1 + value
posterize     color       8 -> 4                           bits kept (rounded)
solarize      color       1 -> 0                           threshold in [0, 1]
shear_x       geometric   0 -> 0.3, signed                 shear coefficient
shear_y       geometric   0 -> 0.3, signed                 shear coefficient
translate_x   geometric   0 -> 0.45, signed                fraction of the valid width
translate_y   geometric   0 -> 0.45, signed                fraction of the valid height
rotate        geometric   0 -> 30, signed                  degrees
equalize      fixed       -                                (only probability learnt)
invert        fixed       -                                (only probability learnt)
cutout        fixed       0.25                             square side / shorter side
mixup         mix         0.4                              alpha of Beta(alpha, alpha)
cutmix        mix         1.0                              alpha of Beta(alpha, alpha)
============  ==========  ==============================  ============================

The two mixing ops (:mod:`.mixing`) are not in the built-in pool: name them in ``ops=[...]``
(classification only). They mix each image with another image of the batch and write the
mixed targets as ``gt_score``; only their probability is learnt.

Color and fixed ops map an image in ``[0, 1]`` to another (:mod:`.pixel_ops`); geometric
ops map per-image valid sizes to ``(B, 3, 3)`` forward affine matrices (:mod:`.geometry`);
mixing ops map an image and its partner to the mixed image and the partner's share
(:mod:`.mixing`).

An op of one's own is a subclass of :class:`AugmentOp` registered under the name configs use
(``ops=[..., 'my_op']``), in a module loaded with ``custom_imports``::

    from tst_mm.augment import COLOR, AugmentOp
    from tst_mm.registry import AUGMENT_OPS

    @AUGMENT_OPS.register_module('my_op')
    class MyOp(AugmentOp):
        kind, low, high, signed = COLOR, 0.0, 0.5, True

        @staticmethod
        def apply(img, value, region):
            return img * (1 + value)

``ops=None`` in the augmenter means the built-in pool (:data:`OP_NAMES`), so ops a package
registers never change a config that does not name them.
"""
from typing import Callable, List, Optional, Sequence

from ..errors import ConfigError
from ..registry import AUGMENT_OPS
from . import geometry, mixing, pixel_ops
from .mixing import MIX

__all__ = ['AugmentOp', 'COLOR', 'GEOMETRIC', 'FIXED', 'MIX', 'OP_NAMES', 'build_op',
           'resolve_ops']

COLOR = 'color'
GEOMETRIC = 'geometric'
FIXED = 'fixed'
KINDS = (COLOR, GEOMETRIC, FIXED, MIX)


class AugmentOp:
    """One op of the pool; subclasses set the class attributes and :meth:`apply`.

    Attributes:
        name: The op's name in configs and policies (its key in ``AUGMENT_OPS``).
        kind: ``'color'`` (pixel op with a learnable magnitude), ``'geometric'`` (affine op
            with a learnable magnitude), ``'fixed'`` (pixel op, only its probability is
            learnt) or ``'mix'`` (mixes each image with a partner of the batch, only its
            probability is learnt; classification only).
        low: Parameter value at magnitude 0.
        high: Parameter value at magnitude 1 (equal to ``low`` for fixed and mixing ops).
        signed: Whether a random sign (one per batch) multiplies the value.
    """

    kind: str = COLOR
    low: float = 0.0
    high: float = 0.0
    signed: bool = False

    def __init__(self, name: str) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f'augmentation op {name!r} has kind {self.kind!r}; use one of '
                              f'{KINDS}.')
        self.name = name

    @property
    def learnable_magnitude(self) -> bool:
        """Whether the op has a magnitude logit."""
        return self.kind not in (FIXED, MIX)

    #: ``apply(img, value, region)`` for pixel ops (an image in ``[0, 1]`` to another),
    #: ``apply(value, sizes)`` returning ``(B, 3, 3)`` forward matrices for geometric ops,
    #: ``apply(img, partner, value, region)`` returning the mixed images and the ``(B,)``
    #: partner shares for mixing ops.
    apply: Callable


@AUGMENT_OPS.register_module('brightness')
class Brightness(AugmentOp):
    """Brightness factor ``1 + value``."""
    kind, low, high, signed = COLOR, 0.0, 0.9, True
    apply = staticmethod(pixel_ops.brightness)


@AUGMENT_OPS.register_module('color')
class Color(AugmentOp):
    """Saturation factor ``1 + value`` (RGB only)."""
    kind, low, high, signed = COLOR, 0.0, 0.9, True
    apply = staticmethod(pixel_ops.color)


@AUGMENT_OPS.register_module('contrast')
class Contrast(AugmentOp):
    """Contrast factor ``1 + value``."""
    kind, low, high, signed = COLOR, 0.0, 0.9, True
    apply = staticmethod(pixel_ops.contrast)


@AUGMENT_OPS.register_module('sharpness')
class Sharpness(AugmentOp):
    """Sharpness factor ``1 + value``."""
    kind, low, high, signed = COLOR, 0.0, 0.9, True
    apply = staticmethod(pixel_ops.sharpness)


@AUGMENT_OPS.register_module('posterize')
class Posterize(AugmentOp):
    """Bits kept (rounded)."""
    kind, low, high, signed = COLOR, 8.0, 4.0, False
    apply = staticmethod(pixel_ops.posterize)


@AUGMENT_OPS.register_module('solarize')
class Solarize(AugmentOp):
    """Threshold in ``[0, 1]``."""
    kind, low, high, signed = COLOR, 1.0, 0.0, False
    apply = staticmethod(pixel_ops.solarize)


@AUGMENT_OPS.register_module('shear_x')
class ShearX(AugmentOp):
    """Horizontal shear coefficient."""
    kind, low, high, signed = GEOMETRIC, 0.0, 0.3, True
    apply = staticmethod(geometry.shear_x_matrix)


@AUGMENT_OPS.register_module('shear_y')
class ShearY(AugmentOp):
    """Vertical shear coefficient."""
    kind, low, high, signed = GEOMETRIC, 0.0, 0.3, True
    apply = staticmethod(geometry.shear_y_matrix)


@AUGMENT_OPS.register_module('translate_x')
class TranslateX(AugmentOp):
    """Shift by a fraction of the valid width."""
    kind, low, high, signed = GEOMETRIC, 0.0, 0.45, True
    apply = staticmethod(geometry.translate_x_matrix)


@AUGMENT_OPS.register_module('translate_y')
class TranslateY(AugmentOp):
    """Shift by a fraction of the valid height."""
    kind, low, high, signed = GEOMETRIC, 0.0, 0.45, True
    apply = staticmethod(geometry.translate_y_matrix)


@AUGMENT_OPS.register_module('rotate')
class Rotate(AugmentOp):
    """Rotation in degrees."""
    kind, low, high, signed = GEOMETRIC, 0.0, 30.0, True
    apply = staticmethod(geometry.rotate_matrix)


@AUGMENT_OPS.register_module('equalize')
class Equalize(AugmentOp):
    """Histogram equalisation (only its probability is learnt)."""
    kind = FIXED
    apply = staticmethod(pixel_ops.equalize)


@AUGMENT_OPS.register_module('invert')
class Invert(AugmentOp):
    """``1 - img`` (only its probability is learnt)."""
    kind = FIXED
    apply = staticmethod(pixel_ops.invert)


@AUGMENT_OPS.register_module('cutout')
class Cutout(AugmentOp):
    """A square of side 0.25 of the shorter side, filled (only its probability is learnt)."""
    kind, low, high = FIXED, 0.25, 0.25
    apply = staticmethod(pixel_ops.cutout)


@AUGMENT_OPS.register_module('mixup')
class MixUp(AugmentOp):
    """MixUp with the partner, ratio from ``Beta(0.4, 0.4)`` per image (classification only;
    only its probability is learnt). Another alpha: a subclass registered under another name
    with ``low = high = alpha``."""
    kind, low, high = MIX, 0.4, 0.4
    apply = staticmethod(mixing.mixup)


@AUGMENT_OPS.register_module('cutmix')
class CutMix(AugmentOp):
    """CutMix with the partner, pasted area from ``Beta(1, 1)`` per image (classification
    only; only its probability is learnt)."""
    kind, low, high = MIX, 1.0, 1.0
    apply = staticmethod(mixing.cutmix)


#: The built-in ops, in the pool's canonical order: the pool of ``ops=None``.
OP_NAMES: List[str] = ['brightness', 'color', 'contrast', 'sharpness', 'posterize', 'solarize',
                       'shear_x', 'shear_y', 'translate_x', 'translate_y', 'rotate', 'equalize',
                       'invert', 'cutout']


def build_op(name: str) -> AugmentOp:
    """The registered op ``name``.

    Raises:
        ConfigError: If no op of that name is registered.
    """
    op_type = AUGMENT_OPS.get(name)
    if op_type is None:
        raise ConfigError(f'Unknown augmentation op(s) {[name]}; valid names are '
                          f'{list(AUGMENT_OPS.module_dict)}.')
    return op_type(name)


def resolve_ops(names: Optional[Sequence[str]]) -> List[AugmentOp]:
    """Build the ops of a pool.

    Args:
        names: Registered op names, or ``None`` for the built-in pool (:data:`OP_NAMES`).

    Returns:
        The ops, in the given order.

    Raises:
        ConfigError: If a name is unknown, repeated, or the list is empty.
    """
    if names is None:
        names = OP_NAMES
    if isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if AUGMENT_OPS.get(n) is None]
    if unknown:
        raise ConfigError(f'Unknown augmentation op(s) {unknown}; valid names are '
                          f'{list(AUGMENT_OPS.module_dict)}.')
    if len(set(names)) != len(names):
        raise ConfigError(f'Augmentation ops listed more than once: {names}.')
    if not names:
        raise ConfigError(f'At least one augmentation op is needed; valid names are {OP_NAMES}.')
    return [build_op(n) for n in names]
