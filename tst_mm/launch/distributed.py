"""A distributed launch of a TST config: the model wrapper, and a gloo group on CPU."""
import os
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = ['init_cpu_distributed', 'configure_model_wrapper', 'prepare_launch']


def init_cpu_distributed(cfg: Config, launcher: str) -> Optional[int]:
    """Start a gloo process group for a CPU-only ``torchrun`` launch.

    mmengine 0.10.7's own ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` and its
    default DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail without CUDA. On a machine
    without CUDA this initialises the process group itself (the Runner then skips its own
    init) and makes the model wrapper use ``device_ids=None``. With CUDA it does nothing.

    Args:
        cfg: The config; its ``model_wrapper_cfg`` is adjusted in place on CPU.
        launcher: The ``--launcher`` argument.

    Returns:
        The rank on CPU runs that were initialised here, else ``None``.
    """
    if launcher != 'pytorch' or torch.cuda.is_available():
        return None
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    if 'DistributedDataParallel' in str(wrapper_cfg.get('type', '')):
        wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
    os.environ.setdefault('LOCAL_RANK', '0')
    return dist.get_rank()


def configure_model_wrapper(cfg: Config, launcher: str) -> None:
    """Wrap a TST distiller with ``tst_mm.TSTDistributedWrapper`` in distributed runs.

    mmengine's default DDP wrapper would run its own training step and skip TST's
    alternating updates; a config that names another wrapper is left as it is.

    Args:
        cfg: The config, changed in place.
        launcher: The ``--launcher`` argument.
    """
    if launcher == 'none' or cfg.get('model_wrapper_cfg') is not None:
        return
    if str(cfg.get('model', {}).get('type', '')).endswith('TSTDistiller'):
        cfg.model_wrapper_cfg = dict(type='tst_mm.TSTDistributedWrapper')


def prepare_launch(cfg: Config, launcher: str) -> None:
    """Model wrapper and (on CPU) process group for a distributed launch; no-op otherwise."""
    configure_model_wrapper(cfg, launcher)
    init_cpu_distributed(cfg, launcher)
