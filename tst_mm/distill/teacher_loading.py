"""Load and freeze the teacher: strictly, with errors that say what does not match."""
from typing import Dict

import torch
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

from tst_mm.utils.runner_setup import state_dict_mismatch

__all__ = ['TeacherCheckpointError', 'load_teacher_checkpoint', 'freeze']


class TeacherCheckpointError(RuntimeError):
    """The teacher checkpoint is missing or does not fit the teacher model."""


def _strip_prefixes(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Drop DDP's ``module.`` prefix, which a checkpoint saved from a wrapper may carry."""
    if all(key.startswith('module.') for key in state_dict):
        return {key[len('module.'):]: value for key, value in state_dict.items()}
    return state_dict


def load_teacher_checkpoint(teacher: nn.Module, checkpoint: str) -> None:
    """Load ``checkpoint`` into ``teacher`` strictly.

    Unlike mmengine's ``load_checkpoint`` (non-strict by default, which leaves a half-random
    teacher with only a warning), any missing key, unexpected key or shape mismatch is an error
    that names the offending keys.

    Args:
        teacher: The built teacher model.
        checkpoint: A local path or URL of an mm checkpoint (or a bare state dict).

    Raises:
        TeacherCheckpointError: If the file cannot be read or does not fit the model.
    """
    try:
        loaded = _load_checkpoint(checkpoint, map_location='cpu')
    except FileNotFoundError as err:
        raise TeacherCheckpointError(
            f'teacher_ckpt not found: {checkpoint}; train the teacher first or fix the path') \
            from err
    state_dict = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else None
    if not isinstance(state_dict, dict):
        raise TeacherCheckpointError(f'teacher_ckpt {checkpoint} holds no state dict')
    state_dict = _strip_prefixes(state_dict)
    mismatch = state_dict_mismatch(teacher.state_dict(), state_dict)
    if mismatch is not None:
        raise TeacherCheckpointError(
            f'teacher_ckpt {checkpoint} does not fit the teacher model: {mismatch}. Is it a '
            'checkpoint of the teacher config (architecture and num_classes)?')
    teacher.load_state_dict(state_dict, strict=True)


def freeze(module: nn.Module) -> None:
    """Stop gradients to ``module``'s parameters and put it in eval mode."""
    for param in module.parameters():
        param.requires_grad_(False)
    module.eval()
