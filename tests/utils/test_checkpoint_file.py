"""A damaged checkpoint (teacher, --resume, load_from) is one line naming the file and what is
wrong with it, not torch's traceback."""
import argparse
import io
import os
import os.path as osp
import random
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from tst_testing import ROOT

from tst_mm.distill import TeacherCheckpointError
from tst_mm.distill.teacher_loading import read_checkpoint
from tst_mm.errors import CheckpointError, ConfigError
from tst_mm.utils import load_checkpoint_file


def _state(seed: int = 0) -> dict:
    """A runner-like checkpoint of about 800 kB."""
    generator = torch.Generator().manual_seed(seed)
    weights = {f'layer{i}.weight': torch.randn(100, 100, generator=generator)
               for i in range(20)}
    return dict(meta=dict(epoch=1), state_dict=weights)


def _saved(tmp_path, name: str = 'whole.pth', legacy: bool = False) -> bytes:
    torch.save(_state(), tmp_path / name, _use_new_zipfile_serialization=not legacy)
    return (tmp_path / name).read_bytes()


def _refusal(path, **kwargs) -> str:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_file(str(path), f'test checkpoint {path}', **kwargs)
    message = str(err.value)
    assert '\n' not in message and message.startswith(f'cannot load test checkpoint {path}: ')
    return message[len(f'cannot load test checkpoint {path}: '):]


# where torch fails with RuntimeError (no end of central directory), OSError (Errno 22, most
# cuts of a real checkpoint) and, on the legacy format, EOFError / RuntimeError
@pytest.mark.parametrize('cut', [300, 5000, 400_000, -100])
@pytest.mark.parametrize('mmap', [False, True])
def test_a_truncated_checkpoint_is_named_truncated(tmp_path, cut, mmap):
    whole = _saved(tmp_path)
    path = tmp_path / 'cut.pth'
    path.write_bytes(whole[:cut])
    reason = _refusal(path, mmap=mmap)
    assert reason.startswith(f'it is truncated ({len(whole[:cut])} bytes, a zip archive without '
                             'its end: cut short by an interrupted save, copy or download?)')


@pytest.mark.parametrize('cut', [300, 400_000, -100])
def test_a_truncated_legacy_checkpoint_is_named_truncated(tmp_path, cut):
    whole = _saved(tmp_path, legacy=True)
    path = tmp_path / 'cut.pth'
    path.write_bytes(whole[:cut])
    assert _refusal(path, mmap=True).startswith(
        f"it is truncated ({len(whole[:cut])} bytes, torch's legacy format ending early")


# seeds whose bytes make torch 2.14 fail with UnpicklingError, IndexError ('pop from empty
# list') and KeyError
@pytest.mark.parametrize('seed', [0, 2, 20])
def test_random_bytes_are_not_a_torch_checkpoint(tmp_path, seed):
    path = tmp_path / 'noise.pth'
    path.write_bytes(random.Random(seed).randbytes(4096))
    assert _refusal(path).startswith('it is not a torch checkpoint (4096 bytes starting with the '
                                     'bytes ')


def test_other_files_say_what_they_are(tmp_path):
    html = tmp_path / 'page.pth'  # an error page saved in place of the file
    html.write_text('<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n')
    assert _refusal(html) == ("it is not a torch checkpoint (56 bytes starting with the text "
                              "'<!DOCTYPE html>')")
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert _refusal(tmp_path / 'empty.pth') == 'it is empty (0 bytes)'
    archive = tmp_path / 'archive.pth'
    with zipfile.ZipFile(archive, 'w') as f:
        f.writestr('weights.npy', b'0' * 10)
    assert _refusal(archive) == ('it is a zip archive but not a torch checkpoint (no data.pkl '
                                 'among its 1 files)')


class _Exploit:
    """Pickles to a getattr call on something other than HistoryBuffer's statistics."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_a_weights_only_refusal_quotes_what_was_refused_not_torchs_advice(tmp_path):
    torch.save(dict(state_dict={}, meta=dict(args=argparse.Namespace(lr=1))), tmp_path / 'ns.pth')
    assert _refusal(tmp_path / 'ns.pth') == (
        'weights_only=True refuses the global argparse.Namespace it holds')
    torch.save({'x': _Exploit()}, tmp_path / 'getattr.pth')
    reason = _refusal(tmp_path / 'getattr.pth')
    assert reason == ("weights_only=True refuses it: the checkpoint asks for "
                      "getattr(numpy.ndarray, 'tofile'), which tst_mm does not allow under "
                      "weights_only=True (only HistoryBuffer's statistics)")
    assert 'weights_only=False' not in reason and 'weights_only` set to `False' not in reason


def test_a_stream_is_judged_like_a_file(tmp_path):
    whole = _saved(tmp_path)
    with pytest.raises(CheckpointError, match=r'cannot load s3://x/a.pth: it is truncated '
                       r'\(5000 bytes'):
        load_checkpoint_file(io.BytesIO(whole[:5000]), 's3://x/a.pth')
    assert torch.equal(load_checkpoint_file(io.BytesIO(whole), 's3://x/a.pth')['state_dict'][
        'layer3.weight'], _state()['state_dict']['layer3.weight'])


def test_a_damaged_teacher_checkpoint_names_the_file(tmp_path):
    whole = _saved(tmp_path)
    (tmp_path / 'teacher.pth').write_bytes(whole[:5000])
    with pytest.raises(TeacherCheckpointError) as err:
        read_checkpoint(str(tmp_path / 'teacher.pth'))
    assert str(err.value) == (
        f'cannot load teacher_ckpt {tmp_path}/teacher.pth: it is truncated (5000 bytes, a zip '
        'archive without its end: cut short by an interrupted save, copy or download?)')
    assert isinstance(err.value, ConfigError)


def _train(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, 'tools/train.py', *args], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT,
                                   OMP_NUM_THREADS='2'),
                          capture_output=True, text=True, timeout=timeout)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The refusal of a failed run: its exit code is not 0, and stderr ends in one line
    ``error: ...`` with no traceback before it."""
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith('error: '), proc.stderr[-3000:]
    return line


def _data_roots(data_root: str) -> list:
    return [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')]


@pytest.mark.slow
def test_train_tool_refuses_a_truncated_teacher_in_one_line(tmp_path, fashion_mnist_root):
    """Cut at 5000 bytes, torch fails with ``OSError: [Errno 22] Invalid argument`` (random
    bytes: ``IndexError``, tested above through the same function)."""
    teacher = tmp_path / 'teacher.pth'
    teacher.write_bytes(_saved(tmp_path)[:5000])
    line = _one_line_error(_train(
        'configs/demo/tst_fashion-mnist.py', '--work-dir', str(tmp_path / 'work'),
        '--cfg-options', f'model.teacher_ckpt={teacher}', *_data_roots(fashion_mnist_root)))
    assert line == (f'error: cannot load teacher_ckpt {teacher}: it is truncated (5000 bytes, '
                    'a zip archive without its end: cut short by an interrupted save, copy or '
                    'download?)')
    assert not osp.exists(tmp_path / 'work' / 'epoch_1.pth')


@pytest.mark.slow
def test_train_tool_refuses_to_resume_from_a_truncated_checkpoint_in_one_line(tmp_path):
    """No data needed: the resume checkpoint is read before anything is built."""
    whole = _saved(tmp_path)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    cut = work_dir / 'epoch_3.pth'  # the save of epoch 3 was killed
    cut.write_bytes(whole[:5000])
    (work_dir / 'last_checkpoint').write_text(str(cut))
    line = _one_line_error(_train('configs/demo/resnet18-tiny_fashion-mnist.py', '--work-dir',
                                  str(work_dir), '--resume'))
    assert line == (f'error: cannot load the checkpoint to resume from, {cut}: it is truncated '
                    '(5000 bytes, a zip archive without its end: cut short by an interrupted '
                    'save, copy or download?)')
    assert osp.isfile(cut) and not osp.exists(work_dir / 'epoch_4.pth')
