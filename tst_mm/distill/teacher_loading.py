"""Load and freeze the teacher: safely, strictly, with errors that say what does not match.

Why the teacher is not read by mmengine's loaders (``mmengine.runner.CheckpointLoader.
load_checkpoint``, ``mmengine.runner.load_checkpoint``; mmengine 0.10.7):

- every loader calls ``torch.load(file, map_location)`` with no ``weights_only`` argument, so
  what may be unpickled is torch's default of the moment (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
  turns it off), and neither takes a ``weights_only`` to pass on;
- URLs go through ``load_from_http`` to ``mmengine.utils.dl_utils.load_url`` with its default
  ``check_hash=False``: no hash check of a download, and a copy already in the hub cache (or
  another file put there under that name) is read unchecked. ``load_from_http`` also downloads
  on global rank 0 only, while every other rank of another node reads the cache at once;
- a URL without a hash in its name is cached under its file name alone, so ``.../a/epoch_1.pth``
  and ``.../b/epoch_1.pth`` share a copy;
- ``load_checkpoint`` is non-strict by default and, when strict, raises a multi-line
  ``RuntimeError`` without shapes.

So this module reads files itself (``torch.load(..., weights_only=True)``,
:func:`~tst_mm.utils.checkpoint_file.load_checkpoint_file`), downloads into the torch hub cache
with a check against the sha256 prefix the name carries, and reads other storages through
mmengine's public file backends (``mmengine.fileio.get``). Model-zoo names are looked up in
mmengine's public tables (``mmengine.runner.get_external_models`` and its siblings); two
private helpers remain, each where mmengine 0.10.7 has no public equivalent (see
:func:`zoo_location` and :func:`read_checkpoint`).
"""
import hashlib
import io
import os
import os.path as osp
import re
import time
from typing import Any, BinaryIO, Dict, Optional, Tuple, Union
from urllib.parse import urlparse

import torch
from mmengine import fileio
from mmengine.dist import get_local_rank
from mmengine.logging import MMLogger
from mmengine.runner import (
    get_deprecated_model_names,
    get_external_models,
    get_mmcls_models,
    get_torchvision_models,
)

# Private, each for want of a public API in mmengine 0.10.7: ``_get_mmengine_home`` is the one
# place that says where mmengine's home ($MMENGINE_HOME, else $XDG_CACHE_HOME/mmengine) is, the
# folder that bare file names in ``$MMENGINE_HOME/open_mmlab.json`` are relative to (only
# ``load_from_openmmlab`` reads them, and it returns the loaded checkpoint, not the path);
# ``_process_mmcls_checkpoint`` is what ``load_from_mmcls`` does to an ``mmcls://`` checkpoint
# (keep ``backbone.*``, drop the prefix), with no public function that does it to a checkpoint
# already read.
from mmengine.runner.checkpoint import _get_mmengine_home, _process_mmcls_checkpoint
from torch import nn

from tst_mm.errors import CheckpointError
from tst_mm.utils.checkpoint_checks import state_dict_mismatch
from tst_mm.utils.checkpoint_file import load_checkpoint_file
from tst_mm.utils.collective import raise_if_failed_elsewhere
from tst_mm.utils.error_lines import error_line

__all__ = ['TeacherCheckpointError', 'load_teacher_checkpoint', 'read_checkpoint',
           'checkpoint_classes', 'hash_prefix', 'cache_path', 'zoo_location', 'freeze']

#: Schemes fetched into the torch hub cache with a hash check.
URL_SCHEMES = ('http', 'https', 'file')

#: mmengine's model-zoo names, resolved to their URL (or file) and then read like one:
#: ``open-mmlab://`` (mmengine's table and ``$MMENGINE_HOME/open_mmlab.json``), torchvision's
#: weights (``modelzoo://`` is mmengine's old name for ``torchvision://``) and mmcls's.
OPENMMLAB_PREFIXES = ('open-mmlab://', 'openmmlab://')
TORCHVISION_PREFIXES = ('torchvision://', 'modelzoo://')
MMCLS_PREFIX = 'mmcls://'
ZOO_PREFIXES = (*OPENMMLAB_PREFIXES, *TORCHVISION_PREFIXES, MMCLS_PREFIX)

#: The hex digest that ends a model-zoo file name (``..._20210831-f257d4e6.pth``).
HASH_IN_NAME = re.compile(r'-([a-f0-9]{6,})\.[A-Za-z0-9]+$')


class TeacherCheckpointError(CheckpointError):
    """The teacher checkpoint is missing, unsafe or does not fit the teacher model."""


def hash_prefix(url: str) -> Optional[str]:
    """The sha256 prefix a model-zoo file name carries, e.g. ``'f257d4e6'``, else ``None``.

    Only the last ``-<hex>`` before the extension counts: names such as
    ``..._bbox_mAP-0.398_20200504_210455-1d2dac9c.pth`` also hold ``-0.``, which
    ``torch.hub``'s own pattern would take for the hash.
    """
    match = HASH_IN_NAME.search(osp.basename(urlparse(url).path))
    return match.group(1) if match else None


def _sha256(source: Union[str, bytes]) -> str:
    """The sha256 hex digest of a file (path) or of bytes."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _check_hash(expected: str, source: Union[str, bytes], what: str) -> None:
    """Check that the sha256 of ``source`` (a local copy or the bytes read) starts with
    ``expected``, the prefix its name carries.

    Raises:
        TeacherCheckpointError: If it does not.
    """
    actual = _sha256(source)
    if not actual.startswith(expected):
        copy = (f'the copy in {source}' if isinstance(source, str) else 'the file read')
        advice = ': delete it to download it again' if isinstance(source, str) else ''
        raise TeacherCheckpointError(
            f'teacher_ckpt {what}: {copy} fails its hash check (sha256 {actual[:8]}..., its '
            f'name says it starts with {expected}: a corrupt or replaced file){advice}')


def _warn_unchecked(what: str, path: Optional[str] = None, fetched: bool = True) -> None:
    """Say that a checkpoint was not checked: its name carries no sha256 prefix; for a URL,
    which cached copy is used and how to refresh it.

    Args:
        what: How the checkpoint was named in the config.
        path: The copy in the hub cache, for a URL.
        fetched: Whether that copy was downloaded just now (else an earlier run's is used).
    """
    where = ''
    if path is not None and fetched:
        where = f'; downloaded to {path}'
    elif path is not None:
        saved = time.strftime('%Y-%m-%d %H:%M', time.localtime(osp.getmtime(path)))
        where = (f'; using the copy downloaded to {path} on {saved}, which may be older than '
                 'the file at that URL now: delete it to download the URL again')
    MMLogger.get_current_instance().warning(
        f'teacher_ckpt {what}: its file name carries no sha256 prefix (model-zoo style '
        f'"...-<hex>.pth"), so the file is used without a hash check{where}')


def cache_path(url: str) -> str:
    """Where :func:`read_checkpoint` keeps the download of ``url`` in the torch hub cache.

    A name with a sha256 prefix is kept under its own name, as ``torch.hub`` and mmengine keep
    it (the name stands for its content, and the copy is checked against it). A name without
    one says nothing of the content (``.../a/epoch_1.pth`` and ``.../b/epoch_1.pth``), so it
    is kept in a folder named after a hash of the whole URL:
    ``<hub>/checkpoints/tst_mm_url_<sha256(url)[:16]>/<name>``.
    """
    cache_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urlparse(url).path)
    if hash_prefix(url) is not None:
        return osp.join(cache_dir, name)
    return osp.join(cache_dir, f'tst_mm_url_{_sha256(url.encode())[:16]}', name)


def _download(url: str, what: str) -> str:
    """The hub-cache path of ``url`` (see :func:`cache_path`), downloaded there by each node's
    rank 0.

    A download is checked against the name's sha256 prefix as it is written; a copy already in
    the cache (which mmengine's own loader may have put there unchecked) is checked before it
    is used. The other ranks wait in one all-reduce, which also tells them if either failed.
    Every rank must call it.

    Args:
        url: An ``http(s)://`` or ``file://`` URL.
        what: How the checkpoint was named in the config, for the messages.
    """
    path = cache_path(url)
    expected = hash_prefix(url)
    error = None
    fetched = not osp.isfile(path)
    if get_local_rank() == 0:
        try:
            if fetched:
                os.makedirs(osp.dirname(path), exist_ok=True)
                torch.hub.download_url_to_file(url, path, hash_prefix=expected, progress=False)
            elif expected is not None:
                _check_hash(expected, path, what)
        except Exception as err:  # report on every rank, below
            error = err
    raise_if_failed_elsewhere(error is None, f'downloading teacher_ckpt {what}')
    if isinstance(error, TeacherCheckpointError):
        raise error
    if error is not None:
        reason = error_line(error)
        if 'hash' in reason:
            reason += (f' (its name says the sha256 starts with {expected}: a corrupt or '
                       'replaced file)')
        raise TeacherCheckpointError(f'cannot download teacher_ckpt {what}: {reason}') from None
    if expected is None:
        _warn_unchecked(what, path, fetched)
    return path


def _fetch(location: str, what: str) -> BinaryIO:
    """The bytes of a checkpoint on a storage mmengine's file backends read (``s3://``, ...),
    checked like a download (see :func:`_check_hash`)."""
    try:
        data = fileio.get(location)
    except Exception as err:
        raise TeacherCheckpointError(
            f'cannot read teacher_ckpt {what} through mmengine\'s file backends: '
            f'{error_line(err)}; download it and give its local path') from None
    expected = hash_prefix(location)
    if expected is None:
        _warn_unchecked(what)
    else:
        _check_hash(expected, data, what)
    return io.BytesIO(data)


def zoo_location(checkpoint: str) -> str:
    """The URL or file a model-zoo name (``open-mmlab://NAME``, ``torchvision://NAME``,
    ``mmcls://NAME``) stands for in mmengine's tables, as mmengine resolves it (deprecated
    ``open-mmlab`` names followed, ``$MMENGINE_HOME/open_mmlab.json`` included). mmengine's
    zoo loaders resolve a name and read it in one call; no public function returns what a name
    stands for, so the lookup is done here, in mmengine's public tables.

    Raises:
        TeacherCheckpointError: If the table has no such name.
    """
    prefix = next(p for p in ZOO_PREFIXES if checkpoint.startswith(p))
    name = checkpoint[len(prefix):]
    if prefix in OPENMMLAB_PREFIXES:
        name = get_deprecated_model_names().get(name, name)
        table, where = get_external_models(), '$MMENGINE_HOME/open_mmlab.json'
    elif prefix in TORCHVISION_PREFIXES:
        table, where = get_torchvision_models(), None
    else:
        table, where = get_mmcls_models(), None
    location = table.get(name)
    if location is None:
        raise TeacherCheckpointError(
            f'teacher_ckpt {checkpoint}: mmengine knows no model {name!r}; give its URL'
            + (f', or add the name to {where}' if where else ''))
    # a bare path in the table lives in mmengine's home, as load_from_openmmlab reads it
    return location if '://' in location else osp.join(_get_mmengine_home(), location)


def read_checkpoint(checkpoint: str) -> Any:
    """Read a teacher checkpoint with ``weights_only=True``.

    ``http(s)://`` and ``file://`` URLs are downloaded into the torch hub cache
    (``$TORCH_HOME/hub/checkpoints``, see :func:`cache_path`) once; other remote paths
    (``s3://``, ...) are read through mmengine's file backends. Either way the file is checked
    against the sha256 prefix that model-zoo file names carry (as ``torch.hub``'s
    ``check_hash`` does), a copy already in the hub cache included, and a name without one is
    loaded with a warning. Local files are read
    in place. Only tensors and the classes tst_mm allow-lists for mmengine checkpoints are
    unpickled. Model-zoo names (``open-mmlab://``, ``torchvision://``, ``mmcls://``) are first
    looked up in mmengine's tables (as mmengine resolves them) and then read as that URL or
    file; ``mmcls://`` keeps the backbone's weights, as mmengine's loader does.

    Raises:
        TeacherCheckpointError: If the file is missing, cannot be fetched, fails its hash
            check, is damaged (empty, truncated, not a torch checkpoint) or holds objects that
            ``weights_only=True`` refuses; the message names the file.
    """
    location = zoo_location(checkpoint) if checkpoint.startswith(ZOO_PREFIXES) else checkpoint
    source: Union[str, BinaryIO]
    downloaded = urlparse(location).scheme in URL_SCHEMES
    if downloaded:
        source = _download(location, checkpoint)
    elif '://' in location:
        source = _fetch(location, checkpoint)
    else:
        source = location
        if not osp.isfile(source):
            raise TeacherCheckpointError(
                f'teacher_ckpt not found: {checkpoint}; train the teacher first or fix the path')
    what = f'teacher_ckpt {checkpoint}'
    if downloaded:
        what += f' (its copy in {source})'
    elif source is not checkpoint and isinstance(source, str):
        what += f' ({source})'
    try:
        loaded = load_checkpoint_file(source, what, TeacherCheckpointError)
    except TeacherCheckpointError as err:
        if 'weights_only=True refuses' in str(err):
            advice = '. If you trust its source, re-save only its state_dict with torch.save'
        else:
            advice = ': delete the copy to download it again' if downloaded else ''
        raise TeacherCheckpointError(f'{err}{advice}') from None
    return _process_mmcls_checkpoint(loaded) if checkpoint.startswith(MMCLS_PREFIX) else loaded


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
