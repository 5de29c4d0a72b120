"""Build a model's structure without its weights, to check a config before anything is trained."""
import threading
from contextlib import contextmanager
from typing import Iterator

from torch import nn

__all__ = ['parameters_on_meta', 'build_skeleton']

#: ``nn.Module.register_parameter`` as torch defines it.
_REGISTER = nn.Module.register_parameter
#: How deep the calling thread is inside :func:`parameters_on_meta` (the others are not).
_LOCAL = threading.local()
#: Guards the count of threads inside and the install of the hook below.
_LOCK = threading.Lock()
_inside = 0


def _register_parameter(module: nn.Module, name: str, param) -> None:
    """``register_parameter``, which moves the parameter to ``meta`` in a thread that asked."""
    _REGISTER(module, name, param)
    if (getattr(_LOCAL, 'depth', 0) and param is not None
            and not isinstance(param, nn.parameter.UninitializedParameter)):
        module._parameters[name] = nn.Parameter(param.detach().to('meta'), param.requires_grad)


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside keep their parameters on the ``meta`` device (no memory, no values).

    Buffers stay real, so small values a check reads (a data preprocessor's mean and std, BN
    statistics) are there; initialisers that run on a meta parameter do nothing. Only modules
    the calling thread builds are affected: ``nn.Module.register_parameter`` is replaced while
    any thread is inside, by one that acts as torch's own for the other threads.
    """
    global _inside
    with _LOCK:
        if _inside == 0:
            nn.Module.register_parameter = _register_parameter
        _inside += 1
    _LOCAL.depth = getattr(_LOCAL, 'depth', 0) + 1
    try:
        yield
    finally:
        _LOCAL.depth -= 1
        with _LOCK:
            _inside -= 1
            if _inside == 0:
                nn.Module.register_parameter = _REGISTER


def build_skeleton(registry, cfg: dict) -> nn.Module:
    """``registry.build(cfg)`` with its parameters on the ``meta`` device.

    Args:
        registry: The registry to build with (``MODELS``).
        cfg: The model config.

    Returns:
        The model: its layers, attributes and buffers as built, its parameters without values.
        A model that cannot be built so (its ``__init__`` computes with its own weights) is
        built with real parameters instead.
    """
    try:
        with parameters_on_meta():
            return registry.build(cfg)
    except (RuntimeError, NotImplementedError):  # meta tensors have no data to compute with
        return registry.build(cfg)
