"""Whether a checkpoint fits a model: compared before anything loads it, named in one line."""
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import find_latest_checkpoint
from torch import nn

from ..errors import CheckpointError
from .checkpoint_file import load_checkpoint_file
from .unwrap import unwrap_model

__all__ = ['state_dict_mismatch', 'resume_checkpoint_path', 'check_resume_checkpoint',
           'check_load_from_checkpoint', 'LOAD_FROM_MIN_SHARE']


def _some(keys: Sequence[str], shown: int = 3) -> str:
    """``'a, b, c (+4 more)'``: the first keys of a list, for one-line messages."""
    text = ', '.join(keys[:shown])
    return text + (f' (+{len(keys) - shown} more)' if len(keys) > shown else '')


def state_dict_mismatch(expected: Mapping[str, torch.Tensor],
                        loaded: Mapping[str, torch.Tensor]) -> Optional[str]:
    """Say in one line how a checkpoint's state dict differs from a model's.

    Args:
        expected: The model's ``state_dict()``.
        loaded: The checkpoint's ``state_dict``.

    Returns:
        ``None`` if both have the same keys and shapes, else e.g. ``'missing 3 keys:
        student.head.fc.weight, ...; unexpected 2 keys: head.fc.weight, ...'``.
    """
    missing = [key for key in expected if key not in loaded]
    unexpected = [key for key in loaded if key not in expected]
    shapes = [f'{key} {tuple(loaded[key].shape)} vs {tuple(value.shape)}'
              for key, value in expected.items()
              if key in loaded and hasattr(loaded[key], 'shape')
              and tuple(loaded[key].shape) != tuple(value.shape)]
    parts = []
    if missing:
        parts.append(f'missing {len(missing)} keys: {_some(missing)}')
    if unexpected:
        parts.append(f'unexpected {len(unexpected)} keys: {_some(unexpected)}')
    if shapes:
        parts.append(f'{len(shapes)} shape mismatches (checkpoint vs model): {_some(shapes)}')
    return '; '.join(parts) or None


def resume_checkpoint_path(cfg: Config) -> Optional[str]:
    """The checkpoint a Runner built from ``cfg`` will resume from, as mmengine picks it.

    Args:
        cfg: The config (``resume``, ``load_from``, ``work_dir``).

    Returns:
        ``load_from`` when resuming from a given file, the work dir's latest checkpoint when
        resuming automatically, ``None`` when not resuming or nothing was saved yet.
    """
    if not cfg.get('resume', False):
        return None
    if cfg.get('load_from') is not None:
        return cfg.load_from
    return find_latest_checkpoint(cfg.work_dir)


def _model_state(checkpoint) -> Dict[str, torch.Tensor]:
    """A checkpoint's state dict, without the ``module.`` prefix mmengine also drops."""
    loaded = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    return {key[len('module.'):] if key.startswith('module.') else key: value
            for key, value in loaded.items()} if isinstance(loaded, dict) else {}


def check_resume_checkpoint(cfg: Config, model: nn.Module) -> None:
    """Refuse to resume from a checkpoint saved from another config, naming the keys.

    mmengine's ``Runner.resume`` loads the model non-strictly: a checkpoint of another model
    only logs warnings and training goes on with partly random weights. This loads the
    checkpoint's state dict first (memory-mapped) and compares keys and shapes with the
    built model (a ``module.`` prefix is dropped as mmengine does; a TST distiller leaves
    its teacher out of both).

    Args:
        cfg: The config the Runner was built from.
        model: The Runner's model (wrapped or not).

    Raises:
        ConfigError: If the checkpoint to resume from is missing, unreadable or does not
            match.
    """
    path = resume_checkpoint_path(cfg)
    if path is None or '://' in str(path):  # fresh start, or a URL mmengine fetches itself
        return
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint to resume from not found: {path}')
    checkpoint = load_checkpoint_file(path, f'the checkpoint to resume from, {path}', mmap=True)
    loaded = _model_state(checkpoint)
    model = unwrap_model(model)
    mismatch = state_dict_mismatch(model.state_dict(), loaded)
    if mismatch is not None:
        raise CheckpointError(f'cannot resume from {path}: it was saved from a different '
                              f'model (another config?): {mismatch}')


#: ``load_from`` is refused when less than this share of the model's weights (counted in
#: elements) would be loaded: "nothing or almost nothing" of the model. A checkpoint of the same
#: architecture with another head, or a backbone checkpoint for a detector, loads far more.
LOAD_FROM_MIN_SHARE = 0.1


def _renamed_fits(expected: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor],
                  add: str = '', drop: str = '') -> bool:
    """Whether most of ``loaded`` would fit ``expected`` with ``add`` prepended to its keys or
    ``drop`` removed from their start."""
    renamed = {add + key[len(drop):]: value for key, value in loaded.items()
               if key.startswith(drop)}
    fitting = [key for key, value in renamed.items()
               if key in expected and getattr(value, 'shape', None) == expected[key].shape]
    return bool(renamed) and len(fitting) >= len(loaded) / 2


def _load_from_advice(expected: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor],
                      path: str) -> str:
    """What to do instead, for the refusal of a ``load_from`` checkpoint."""
    if any(key.startswith('student.') for key in expected) and _renamed_fits(
            expected, loaded, add='student.'):
        return ("It holds the student model alone (its keys lack the distiller's 'student.' "
                'prefix): to start the student from it, drop load_from and set '
                f"model.student.init_cfg=dict(type='Pretrained', checkpoint='{path}')")
    if _renamed_fits(expected, loaded, drop='student.'):
        return ("It is a TST checkpoint (keys 'student.*'): give load_from the student that "
                'tools/export_student.py writes from it')
    return 'Is it a checkpoint of this config (architecture and num_classes)?'


def check_load_from_checkpoint(cfg: Config, model: nn.Module) -> None:
    """Refuse a ``load_from`` checkpoint that fits nothing or almost nothing of the model, and
    log how much of it loads otherwise.

    mmengine loads ``load_from`` non-strictly: a checkpoint of another model (or of the student
    alone, for a TST distiller, whose keys start with ``student.``) only logs "do not match
    exactly" and training starts from random weights. This reads the checkpoint first
    (memory-mapped) and compares it with the built model, as mmengine will load it (keys with
    the same name and shape, a ``module.`` prefix dropped; a TST distiller leaves its teacher
    out). A checkpoint behind a URL is left to mmengine.

    Args:
        cfg: The config the Runner was built from (``load_from``, ``resume``).
        model: The Runner's model (wrapped or not).

    Raises:
        CheckpointError: If the file is missing or unreadable, or less than
            :data:`LOAD_FROM_MIN_SHARE` of the model's weights would load from it.
    """
    path = cfg.get('load_from')
    if path is None or cfg.get('resume', False) or '://' in str(path):
        return  # nothing to load, a resume (checked by check_resume_checkpoint), or a URL
    if not osp.isfile(path):
        raise CheckpointError(f'load_from checkpoint not found: {path}')
    loaded = _model_state(load_checkpoint_file(path, f'load_from {path}', mmap=True))
    expected = unwrap_model(model).state_dict()
    matched = [key for key, value in expected.items()
               if getattr(loaded.get(key), 'shape', None) == getattr(value, 'shape', ())]
    sizes = {key: value.numel() if torch.is_tensor(value) else 0
             for key, value in expected.items()}
    share = sum(sizes[key] for key in matched) / max(1, sum(sizes.values()))
    counts = (f"{len(matched)} of the model's {len(expected)} tensors load from it "
              f'({share:.0%} of its weights)')
    mismatch = state_dict_mismatch(expected, loaded)
    if share < LOAD_FROM_MIN_SHARE:
        raise CheckpointError(
            f'load_from {path} fits almost nothing of the model, which would train from '
            f'random weights: {counts}; {mismatch}. {_load_from_advice(expected, loaded, path)}')
    logger = MMLogger.get_current_instance()
    if mismatch is None:
        logger.info(f'load_from {path}: {counts}')
    else:
        logger.warning(f'load_from {path} fits the model in part: {counts}; {mismatch}')
