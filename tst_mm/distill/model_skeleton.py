"""Build a model's structure without its weights, to check a config before anything is trained."""
from contextlib import contextmanager
from typing import Iterator

from torch import nn

__all__ = ['parameters_on_meta', 'build_skeleton']


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside keep their parameters on the ``meta`` device (no memory, no values).

    Buffers stay real, so small values a check reads (a data preprocessor's mean and std, BN
    statistics) are there; initialisers that run on a meta parameter do nothing.
    """
    register = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str, param) -> None:
        register(module, name, param)
        if param is not None and not isinstance(param, nn.parameter.UninitializedParameter):
            module._parameters[name] = nn.Parameter(param.detach().to('meta'),
                                                    param.requires_grad)

    nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


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
