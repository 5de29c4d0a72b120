"""Runner checkpoints load and resume under torch's weights_only default, nothing more."""
import io
import pickle
import uuid

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import tst_mm  # noqa: F401  (registers the allow-list)
from tst_mm.utils import restricted_getattr


class TinyRegressor(BaseModel):
    """A real mmengine model: one linear layer fitted to a fixed target."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.linear(inputs)
        if mode == 'loss':
            targets = torch.stack(targets) if isinstance(targets, list) else targets
            return dict(loss=((out - targets)**2).mean())
        return out


def _runner(work_dir, max_epochs, resume=False):
    data = [dict(inputs=torch.tensor([float(i), 1.0]), targets=torch.tensor([2.0 * i]))
            for i in range(8)]
    return Runner(
        model=TinyRegressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, batch_size=4, collate_fn=dict(type='pseudo_collate'),
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=True),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        # unique per runner: two runners built in the same second would share a logger
        experiment_name=f'ckpt_{uuid.uuid4().hex[:8]}')


def test_runner_checkpoint_loads_with_weights_only(tmp_path):
    _runner(tmp_path, max_epochs=1).train()
    checkpoint = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    buffers = checkpoint['message_hub']['log_scalars']
    assert isinstance(buffers['train/loss'], HistoryBuffer)
    assert len(buffers['train/loss'].data[0]) == 2  # both iterations' losses survived
    assert 'optimizer' in checkpoint and 'param_schedulers' in checkpoint


def test_resume_continues_from_checkpoint(tmp_path):
    _runner(tmp_path, max_epochs=1).train()
    saved = torch.load(tmp_path / 'epoch_1.pth')['state_dict']
    runner = _runner(tmp_path, max_epochs=2, resume=True)
    runner.train()
    assert runner.epoch == 2  # continued from epoch 1 rather than starting over
    history = runner.message_hub.get_scalar('train/loss')
    assert len(history.data[0]) == 4  # two iterations per epoch, both epochs in the history
    resumed = torch.load(tmp_path / 'epoch_2.pth')['state_dict']
    assert not torch.equal(saved['linear.weight'], resumed['linear.weight'])


def test_restricted_getattr_only_allows_history_buffer_statistics():
    assert restricted_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='does not allow'):
        restricted_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        restricted_getattr(torch, 'load')


class _Exploit:
    """Pickles to a getattr call on something other than HistoryBuffer's statistics."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_weights_only_still_refuses_other_getattr_calls():
    buffer = io.BytesIO()
    torch.save({'x': _Exploit()}, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buffer, weights_only=True)
