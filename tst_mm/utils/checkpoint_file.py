"""Read checkpoint files, and say in one line what is wrong with one that cannot be read.

``torch.load`` reports a damaged file with whatever its reader tripped over: a file cut short
by an interrupted save or copy gives ``OSError: [Errno 22] Invalid argument`` or ``failed
finding central directory``, random bytes ``IndexError: pop from empty list`` or ``KeyError``,
none of them naming the file. :func:`load_checkpoint_file` looks at the file itself when the
load fails and says which of these it is: empty, truncated, not a torch checkpoint at all, or
refused by ``weights_only=True`` (naming the refused global, not torch's advice to turn the
check off).
"""
import os
import os.path as osp
import re
import zipfile
from typing import Any, BinaryIO, Optional, Tuple, Type, Union

import torch

from ..errors import CheckpointError

__all__ = ['load_checkpoint_file', 'unreadable_reason', 'weights_only_refusal']

#: How a zip archive starts: torch >= 1.6 saves checkpoints as zip archives.
_ZIP_HEAD = b'PK\x03\x04'
#: The magic number of torch's legacy (non-zip) format, as the pickled long that starts it.
_LEGACY_MAGIC = b'\x8a\n' + (0x1950a86a20f9469cfc6c).to_bytes(10, 'little')

Source = Union[str, BinaryIO]


def weights_only_refusal(err: BaseException) -> Optional[str]:
    """What ``torch.load(..., weights_only=True)`` refused, in a few words, else ``None``.

    Torch's message opens with advice to load with ``weights_only=False``; the telling part is
    its ``WeightsUnpickler error`` line, whose refused global is quoted here.

    Args:
        err: The error ``torch.load`` raised.

    Returns:
        e.g. ``'weights_only=True refuses the global argparse.Namespace it holds'``.
    """
    text = str(err)
    refused = re.search(r'Unsupported global: GLOBAL (\S+)', text)
    if refused:
        return f'weights_only=True refuses the global {refused.group(1)} it holds'
    unpickler = re.search(r'WeightsUnpickler error:\s*(\S.*)', text)
    if unpickler:
        return f'weights_only=True refuses it: {unpickler.group(1).strip()}'
    return None


def _head_and_size(source: Source) -> Tuple[bytes, int]:
    """The first bytes of a file (path or seekable stream) and its size."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, 'rb') as f:
            return f.read(64), osp.getsize(source)
    source.seek(0)
    head = source.read(64)
    return head, source.seek(0, os.SEEK_END)


def _shown(head: bytes) -> str:
    """How a file starts: its first line if it is text (an error page, a git-lfs pointer),
    else its first bytes in hex."""
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError as err:  # a character cut by the end of ``head`` is still text
        text = head[:err.start].decode('utf-8') if err.start >= len(head) - 3 else ''
    if text.strip() and all(char.isprintable() or char in '\t\r\n' for char in text):
        return f'the text {text.strip().splitlines()[0][:40]!r}'
    return f'the bytes {head[:8].hex(" ")}'


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f'{type(err).__name__}: {lines[0].strip()}' if lines else type(err).__name__


def unreadable_reason(source: Source, err: BaseException) -> str:
    """Say what is wrong with a checkpoint ``torch.load`` failed to read, in words for one line.

    Args:
        source: The file (path, or the stream that was read).
        err: The error ``torch.load`` raised.

    Returns:
        e.g. ``'it is truncated (4985 bytes; ...)'``, ``'it is not a torch checkpoint (...)'``,
        ``'weights_only=True refuses the global argparse.Namespace it holds'``.
    """
    try:
        head, size = _head_and_size(source)
        names = None
        if head.startswith(_ZIP_HEAD) and zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as io_err:
        return f'it cannot be read ({_first_line(io_err)})'
    if size == 0:
        return 'it is empty (0 bytes)'
    cut = (f'it is truncated ({size} bytes, {{}}: cut short by an interrupted save, copy or '
           'download?)')
    if head.startswith(_ZIP_HEAD):
        if names is None:
            return cut.format('a zip archive without its end')
        if not any(name.endswith('data.pkl') for name in names):
            return f'it is a zip archive but not a torch checkpoint (no data.pkl among its ' \
                   f'{len(names)} files)'
    elif head.startswith(b'\x80') and _LEGACY_MAGIC in head[:32]:  # torch's legacy format
        if isinstance(err, EOFError) or 'EOF' in str(err):
            return cut.format("torch's legacy format ending early")
    else:
        return f'it is not a torch checkpoint ({size} bytes starting with {_shown(head)})'
    return weights_only_refusal(err) or f'it is damaged ({_first_line(err)})'


def load_checkpoint_file(source: Source, what: str, error: Type[Exception] = CheckpointError,
                         mmap: bool = False) -> Any:
    """``torch.load`` a checkpoint onto the CPU with ``weights_only=True``, or fail in one line.

    Args:
        source: A local path or a stream holding the file.
        what: How to name it in the message, e.g. ``'teacher_ckpt work_dirs/t/epoch_1.pth'``.
        error: The class of the error raised.
        mmap: Memory-map a local file rather than reading it (only for the zip format, which
            alone supports it; a legacy-format file is read).

    Returns:
        What the file holds.

    Raises:
        error: ``'cannot load <what>: <reason>'``, the reason from :func:`unreadable_reason`.
    """
    if mmap and isinstance(source, (str, os.PathLike)):
        try:
            mmap = _head_and_size(source)[0].startswith(_ZIP_HEAD)
        except OSError:
            mmap = False  # torch.load reports it below
    try:
        return torch.load(source, map_location='cpu', weights_only=True, mmap=bool(mmap))
    except MemoryError:
        raise
    except Exception as err:  # torch's readers fail with any error type on a damaged file
        raise error(f'cannot load {what}: {unreadable_reason(source, err)}') from None
