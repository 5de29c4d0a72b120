"""The model inside a runner's model wrapper."""
from mmengine.model import is_model_wrapper
from torch import nn

__all__ = ['unwrap_model']


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model a wrapper (``MMDistributedDataParallel``, ``tst_mm.TSTDistributedWrapper``,
    ...) holds as ``module``, or ``model`` itself when it is not wrapped (one process)."""
    return model.module if is_model_wrapper(model) else model
