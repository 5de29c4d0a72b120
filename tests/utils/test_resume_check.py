"""Resuming from a checkpoint of another config stops in one line naming the keys."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch import nn
from tst_testing import ROOT, run_tool_expecting_failure

from tst_mm.engine import TSTDistributedWrapper
from tst_mm.errors import ConfigError
from tst_mm.utils import (
    check_resume_checkpoint,
    resume_checkpoint_path,
    state_dict_mismatch,
)


class Tiny(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4, classes)


def _save(model, path, prefix=''):
    state = {prefix + key: value for key, value in model.state_dict().items()}
    torch.save(dict(meta=dict(epoch=1), state_dict=state), path)
    return str(path)


def test_mismatch_names_missing_unexpected_and_shapes():
    model = Tiny().state_dict()
    assert state_dict_mismatch(model, dict(model)) is None
    other = {'student.' + key: value for key, value in model.items()}
    other['head.weight'] = torch.zeros(5, 4)
    line = state_dict_mismatch(model, other)
    assert line == ('missing 3 keys: backbone.weight, backbone.bias, head.bias; unexpected 4 '
                    'keys: student.backbone.weight, student.backbone.bias, student.head.weight '
                    '(+1 more); 1 shape mismatches (checkpoint vs model): head.weight (5, 4) vs '
                    '(3, 4)')


def test_which_checkpoint_resume_picks(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path), resume=False, load_from='x.pth'))
    assert resume_checkpoint_path(cfg) is None  # load_from alone is a (partial) init, not resume
    cfg.resume = True
    assert resume_checkpoint_path(cfg) == 'x.pth'
    cfg.load_from = None
    assert resume_checkpoint_path(cfg) is None  # nothing saved yet: a fresh start
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    assert resume_checkpoint_path(cfg) == str(tmp_path / 'epoch_3.pth')


def test_check_accepts_own_checkpoint_wrapped_or_not(tmp_path):
    model = Tiny()
    for prefix in ('', 'module.'):  # mmengine drops a saved DDP prefix too
        path = _save(model, tmp_path / f'own{prefix}.pth', prefix)
        cfg = Config(dict(work_dir=str(tmp_path), resume=True, load_from=path))
        check_resume_checkpoint(cfg, model)
        check_resume_checkpoint(cfg, TSTDistributedWrapper(model))  # no process group


def test_check_refuses_another_model_and_a_missing_file(tmp_path):
    path = _save(Tiny(classes=5), tmp_path / 'other.pth')
    cfg = Config(dict(work_dir=str(tmp_path), resume=True, load_from=path))
    with pytest.raises(ConfigError, match=r'cannot resume from .*other.pth: it was saved from a '
                       r'different model .*head.weight \(5, 4\) vs \(3, 4\)'):
        check_resume_checkpoint(cfg, Tiny(classes=3))
    cfg.load_from = str(tmp_path / 'gone.pth')
    with pytest.raises(ConfigError, match='checkpoint to resume from not found: .*gone.pth'):
        check_resume_checkpoint(cfg, Tiny())


def test_check_reads_legacy_format_and_refuses_a_truncated_file(tmp_path):
    model = Tiny()
    legacy = tmp_path / 'legacy.pth'  # pre-zip format: cannot be memory-mapped, still read
    torch.save(dict(state_dict=model.state_dict()), legacy,
               _use_new_zipfile_serialization=False)
    check_resume_checkpoint(
        Config(dict(work_dir=str(tmp_path), resume=True, load_from=str(legacy))), model)
    whole = _save(model, tmp_path / 'whole.pth')
    for name, source in (('cut.pth', whole), ('cut_legacy.pth', str(legacy))):
        with open(source, 'rb') as f:
            head = f.read(300)
        (tmp_path / name).write_bytes(head)  # a save killed halfway
        cfg = Config(dict(work_dir=str(tmp_path), resume=True, load_from=str(tmp_path / name)))
        with pytest.raises(ConfigError, match=rf'cannot load the checkpoint to resume from, '
                           rf'.*{name}: it is truncated \(300 bytes, .*: cut short by an '
                           r'interrupted save, copy or download\?\)$') as info:
            check_resume_checkpoint(cfg, model)
        assert '\n' not in str(info.value)


def test_train_tool_refuses_to_resume_tst_from_a_plain_classifier(
        fashion_mnist_root, fashion_teacher_ckpt, tmp_path):
    """The teacher's own checkpoint (stock mmpretrain config) given to --resume of the TST
    config: one line naming the keys, before any training step."""
    options = [f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
               for split in ('train', 'val', 'test')] + [
        f'model.teacher_ckpt={fashion_teacher_ckpt}',
        f'model.teacher={osp.join(ROOT, "configs/demo/resnet18-tiny_fashion-mnist.py")}']
    line = run_tool_expecting_failure(
        'tools/train.py', 'configs/demo/tst_fashion-mnist.py', '--work-dir', str(tmp_path),
        '--resume', fashion_teacher_ckpt, '--cfg-options', *options)
    assert line.startswith(f'error: cannot resume from {fashion_teacher_ckpt}: it was saved '
                           'from a different model')
    assert 'missing' in line and 'student.backbone.' in line
    assert 'unexpected' in line and ' backbone.' in line
    assert not osp.exists(tmp_path / 'epoch_1.pth')
