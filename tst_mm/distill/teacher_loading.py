"""Load and freeze the teacher: safely, strictly, with errors that say what does not match."""
import os
import os.path as osp
import pickle
import re
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlparse

import torch
from mmengine.dist import get_local_rank
from mmengine.runner.checkpoint import (
    _get_mmengine_home,
    _load_checkpoint,
    get_deprecated_model_names,
    get_external_models,
)
from torch import nn

from tst_mm.errors import ConfigError
from tst_mm.utils.collective import raise_if_failed_elsewhere
from tst_mm.utils.runner_setup import error_line, state_dict_mismatch

__all__ = ['TeacherCheckpointError', 'load_teacher_checkpoint', 'read_checkpoint',
           'checkpoint_classes', 'hash_prefix', 'freeze']

#: Schemes fetched into the torch hub cache with a hash check.
URL_SCHEMES = ('http', 'https', 'file')

#: mmengine's model-zoo names, resolved to their URL (or file) and then read like one.
OPENMMLAB_PREFIXES = ('open-mmlab://', 'openmmlab://')

#: The hex digest that ends a model-zoo file name (``..._20210831-f257d4e6.pth``).
HASH_IN_NAME = re.compile(r'-([a-f0-9]{6,})\.[A-Za-z0-9]+$')


class TeacherCheckpointError(ConfigError):
    """The teacher checkpoint is missing, unsafe or does not fit the teacher model."""


def hash_prefix(url: str) -> Optional[str]:
    """The sha256 prefix a model-zoo file name carries, e.g. ``'f257d4e6'``, else ``None``.

    Only the last ``-<hex>`` before the extension counts: names such as
    ``..._bbox_mAP-0.398_20200504_210455-1d2dac9c.pth`` also hold ``-0.``, which
    ``torch.hub``'s own pattern would take for the hash.
    """
    match = HASH_IN_NAME.search(osp.basename(urlparse(url).path))
    return match.group(1) if match else None


def _download(url: str) -> str:
    """The hub-cache path of ``url``, downloaded there (hash-checked) by each node's rank 0.

    The other ranks wait in one all-reduce, which also tells them if the download failed.
    Every rank must call it.
    """
    cache_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    path = osp.join(cache_dir, osp.basename(urlparse(url).path))
    error = None
    if get_local_rank() == 0 and not osp.isfile(path):
        try:
            os.makedirs(cache_dir, exist_ok=True)
            torch.hub.download_url_to_file(url, path, hash_prefix=hash_prefix(url),
                                           progress=False)
        except Exception as err:  # report on every rank, below
            error = err
    raise_if_failed_elsewhere(error is None, f'downloading teacher_ckpt {url}')
    if error is not None:
        reason = error_line(error)
        if 'hash' in reason:
            reason += (f' (its name says the sha256 starts with {hash_prefix(url)}: a corrupt '
                       'or replaced file)')
        raise TeacherCheckpointError(f'cannot download teacher_ckpt {url}: {reason}') from None
    return path


def openmmlab_location(checkpoint: str) -> str:
    """The URL or file an ``open-mmlab://NAME`` checkpoint stands for in mmengine's model-zoo
    table (its own, updated by ``$MMENGINE_HOME/open_mmlab.json``; deprecated names followed).

    Raises:
        TeacherCheckpointError: If the table has no such name.
    """
    prefix = next(p for p in OPENMMLAB_PREFIXES if checkpoint.startswith(p))
    name = checkpoint[len(prefix):]
    name = get_deprecated_model_names().get(name, name)
    location = get_external_models().get(name)
    if location is None:
        raise TeacherCheckpointError(
            f'teacher_ckpt {checkpoint}: mmengine knows no model {name!r}; give its URL, or add '
            'the name to $MMENGINE_HOME/open_mmlab.json')
    # a bare path in the table lives in mmengine's home, as mmengine's own loader reads it
    return location if '://' in location else osp.join(_get_mmengine_home(), location)


def read_checkpoint(checkpoint: str) -> Any:
    """Read a teacher checkpoint with ``weights_only=True``.

    ``http(s)://`` and ``file://`` URLs are downloaded into the torch hub cache
    (``$TORCH_HOME/hub/checkpoints``) once, checking the sha256 prefix that model-zoo file
    names carry (as ``torch.hub``'s ``check_hash`` does); local files are read in place; for
    both, only tensors and the classes tst_mm allow-lists for mmengine checkpoints are
    unpickled. ``open-mmlab://NAME`` is first looked up in mmengine's model-zoo table (as
    mmengine resolves it) and then read as that URL or file. Other schemes (``s3://``, ...) are
    left to mmengine's loaders as they are (no hash check).

    Raises:
        TeacherCheckpointError: If the file is missing, fails its hash check or holds
            objects that ``weights_only=True`` refuses.
    """
    if checkpoint.startswith(OPENMMLAB_PREFIXES):
        checkpoint = openmmlab_location(checkpoint)
    scheme = urlparse(checkpoint).scheme
    if scheme in URL_SCHEMES:
        path = _download(checkpoint)
    elif '://' in checkpoint:
        return _load_checkpoint(checkpoint, map_location='cpu')
    else:
        path = checkpoint
        if not osp.isfile(path):
            raise TeacherCheckpointError(
                f'teacher_ckpt not found: {checkpoint}; train the teacher first or fix the path')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise TeacherCheckpointError(
            f'cannot load teacher_ckpt {checkpoint} with weights_only=True: {error_line(err)}. '
            'If you trust its source, re-save only its state_dict with torch.save') from None


def checkpoint_classes(checkpoint: Any) -> Optional[Tuple[str, ...]]:
    """Class names a checkpoint's meta records (mmengine ``dataset_meta`` or mmcv-era
    ``CLASSES``), else ``None``."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return None
    classes = (meta.get('dataset_meta') or {}).get('classes') or meta.get('CLASSES')
    return tuple(classes) if classes else None


def _strip_prefixes(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Drop DDP's ``module.`` prefix, which a checkpoint saved from a wrapper may carry."""
    if all(key.startswith('module.') for key in state_dict):
        return {key[len('module.'):]: value for key, value in state_dict.items()}
    return state_dict


def load_teacher_checkpoint(teacher: nn.Module, checkpoint: str) -> Optional[Tuple[str, ...]]:
    """Load ``checkpoint`` into ``teacher`` strictly and safely (see :func:`read_checkpoint`).

    Unlike mmengine's ``load_checkpoint`` (non-strict by default, which leaves a half-random
    teacher with only a warning), any missing key, unexpected key or shape mismatch is an error
    that names the offending keys.

    Args:
        teacher: The built teacher model.
        checkpoint: A local path or URL of an mm checkpoint (or a bare state dict).

    Returns:
        The class names the checkpoint's meta records, if any.

    Raises:
        TeacherCheckpointError: If the file cannot be read or does not fit the model.
    """
    loaded = read_checkpoint(checkpoint)
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
    return checkpoint_classes(loaded)


def freeze(module: nn.Module) -> None:
    """Stop gradients to ``module``'s parameters and put it in eval mode."""
    for param in module.parameters():
        param.requires_grad_(False)
    module.eval()
