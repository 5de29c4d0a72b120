"""Build a model's structure without its weights, to check a config before anything is trained.

Why not ``with torch.device('meta'):``: torch's device context puts every tensor a constructor
makes on ``meta``, buffers included (``torch.tensor(mean)`` too), and the checks read buffer
values: a data preprocessor's mean and std, which must match between teacher and student. Torch
has no "parameters only" mode of that context, so the skeleton uses torch's public global
parameter-registration hook instead (``register_module_parameter_registration_hook``), which
replaces each parameter as a module registers it; ``nn.Module`` itself is left as torch defines
it. The hook is registered once, when this module is imported, and does nothing outside
:func:`parameters_on_meta`: registering and removing it around each build would change torch's
table of hooks while another thread's module may be reading it.
"""
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from torch import nn
from torch.nn.modules.module import register_module_parameter_registration_hook

__all__ = ['parameters_on_meta', 'build_skeleton']

#: How deep the calling thread is inside :func:`parameters_on_meta` (the others are not).
_LOCAL = threading.local()


def _on_meta(module: nn.Module, name: str, param: nn.Parameter) -> Optional[nn.Parameter]:
    """The parameter a module registers, moved to ``meta`` in a thread that asked (torch's
    registration hook: ``None`` keeps the parameter as it is)."""
    if (not getattr(_LOCAL, 'depth', 0)
            or isinstance(param, nn.parameter.UninitializedParameter)):
        return None
    return nn.Parameter(param.detach().to('meta'), param.requires_grad)


register_module_parameter_registration_hook(_on_meta)


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside keep their parameters on the ``meta`` device (no memory, no values).

    Buffers stay real, so small values a check reads (a data preprocessor's mean and std, BN
    statistics) are there; initialisers that run on a meta parameter do nothing. Only modules
    the calling thread builds are affected: torch's registration hook is global, and acts only
    in a thread that is inside.
    """
    _LOCAL.depth = getattr(_LOCAL, 'depth', 0) + 1
    try:
        yield
    finally:
        _LOCAL.depth -= 1


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
