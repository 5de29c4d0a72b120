"""The model wrapper for TST under torch.distributed, on CPU (gloo) and GPU (nccl) alike."""
from itertools import chain
from typing import Any, Dict, Optional, Union

import torch
import torch.distributed as dist
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from torch import nn

from ..distill.contract import TSTDistillerContract
from ..registry import MODEL_WRAPPERS

__all__ = ['TSTDistributedWrapper']


@MODEL_WRAPPERS.register_module()
class TSTDistributedWrapper(nn.Module):
    """Run :class:`tst_mm.TSTDistiller` on several processes.

    ``MMDistributedDataParallel.train_step`` runs its own forward/backward/step, which would
    bypass TST's two alternating steps, and DDP only all-reduces gradients for outputs of its
    own ``forward`` (the distiller calls the student's parts directly). So this wrapper
    delegates the steps of :class:`tst_mm.distill.contract.TSTDistillerContract`
    (:meth:`search_step`, :meth:`distill_step`, and the stock :meth:`train_step`) to the
    distiller, which averages the gradients of the part it
    updates (student or augmenter) across ranks before each optimizer step
    (:class:`tst_mm.distill.GuardedUpdate`, which also makes all ranks skip a non-finite step
    together); no parameter is ever "unused", so nothing
    like ``find_unused_parameters`` is needed. Parameters and buffers start from rank 0's.

    SyncBN (``sync_bn='torch'`` or ``'mmcv'`` in the config): the Runner converts every BN
    layer of the model before wrapping it; this wrapper gives the frozen teacher its plain
    BN layers back (same tensors, eval mode), so only the student's statistics are synced.

    Use ``model_wrapper_cfg=dict(type='tst_mm.TSTDistributedWrapper')`` (``tools/train.py``
    sets it for a TST distiller launched with ``--launcher pytorch|slurm|mpi``).

    Args:
        module: The distiller.
        broadcast_buffers: Also broadcast buffers from rank 0 before each training step
            (BN statistics of the student); off by default like mmengine's DDP wrapper.
        device_ids: Accepted for compatibility with DDP-style wrapper configs and unused: the
            Runner has already moved the module to this process's device.
    """

    def __init__(self, module: BaseModel, broadcast_buffers: bool = False,
                 device_ids: Optional[list] = None) -> None:
        super().__init__()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        if isinstance(module, TSTDistillerContract):  # after the Runner's sync_bn
            module.restore_teacher_norm_layers()
        if dist.is_available() and dist.is_initialized():
            for tensor in chain(module.parameters(), module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def _broadcast_buffers(self) -> None:
        """Rank 0's buffers (the teacher's too) to every rank, when ``broadcast_buffers``."""
        if self.broadcast_buffers and dist.is_initialized():
            buffers = (self.module.buffers_with_teacher()
                       if isinstance(self.module, TSTDistillerContract) else self.module.buffers())
            for buffer in buffers:
                dist.broadcast(buffer.data, src=0)

    def search_step(self, data: Union[dict, tuple, list],
                    optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """The distiller's search step (the augmenter's gradients averaged over ranks)."""
        self._broadcast_buffers()
        return self.module.search_step(data, optim_wrapper)

    def distill_step(self, data: Union[dict, tuple, list],
                     optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """The distiller's distillation step (the student's gradients averaged over ranks)."""
        self._broadcast_buffers()
        return self.module.distill_step(data, optim_wrapper)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """The distiller's stock ``train_step`` (for tools that step the model themselves)."""
        self._broadcast_buffers()
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data: Union[dict, tuple, list]) -> list:
        """Validation on this rank's share of the data (results are gathered by the loop)."""
        return self.module.val_step(data)

    def test_step(self, data: Union[dict, tuple, list]) -> list:
        """Testing on this rank's share of the data."""
        return self.module.test_step(data)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)
