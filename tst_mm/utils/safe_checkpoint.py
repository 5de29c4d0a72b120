"""Let torch >= 2.6 load mmengine runner checkpoints with ``weights_only=True``.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, so since torch 2.6 its own
runner checkpoints (``--resume``, ``load_from``) are refused: they hold a few non-tensor objects
(the message hub's ``HistoryBuffer`` and the numpy arrays and scalars inside it). Rather than
switching the check off, this module allow-lists exactly those classes.

``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'min')``. Allowing
``builtins.getattr`` itself would reopen the door the check closes (``getattr`` can reach any
attribute of any allowed object), so a restricted stand-in is registered under that name: it
only resolves the statistics methods of ``HistoryBuffer``.
"""
import importlib
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['register_checkpoint_safe_globals', 'restricted_getattr']

_registered = False
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to the statistics methods that ``HistoryBuffer`` pickles.

    Args:
        obj: The object the pickle wants an attribute of.
        name: The attribute name.

    Returns:
        The statistics method ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if obj is HistoryBuffer and (name in _DEFAULT_STATISTICS
                               or name in HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    import pickle
    what = getattr(obj, '__qualname__', type(obj).__qualname__)
    raise pickle.UnpicklingError(
        f'the checkpoint asks for getattr({getattr(obj, "__module__", "")}.{what}, {name!r}), '
        "which tst_mm does not allow under weights_only=True (only HistoryBuffer's statistics)")


def _numpy_globals() -> list:
    """The numpy pieces that arrays and scalars in runner checkpoints pickle to."""
    dtype_classes = [type(np.dtype(name)) for name in (
        'float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'bool')]
    # numpy 2 renamed numpy.core to numpy._core (numpy 1.26 has only a partial _core);
    # checkpoints name the module of the numpy that saved them, so both names are allowed
    multiarray = importlib.import_module(
        'numpy._core.multiarray' if int(np.__version__.split('.')[0]) >= 2 else
        'numpy.core.multiarray')
    renamed = [(getattr(multiarray, name), f'{module}.multiarray.{name}')
               for name in ('_reconstruct', 'scalar') for module in ('numpy._core', 'numpy.core')]
    return [*renamed, np.ndarray, np.dtype, *dtype_classes]


def register_checkpoint_safe_globals() -> None:
    """Allow-list the classes mmengine runner checkpoints need; safe to call repeatedly."""
    global _registered
    if _registered:
        return
    torch.serialization.add_safe_globals(
        [HistoryBuffer, *_numpy_globals(), (restricted_getattr, 'builtins.getattr')])
    _registered = True
