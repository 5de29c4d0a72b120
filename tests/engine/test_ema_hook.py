"""A stock EMA hook on a TST distiller: averaged student at validation and in checkpoints,
the learned (not an averaged) augmenter in checkpoints."""
import pytest
import torch
from mmengine.runner import Runner
from tst_testing import fashion_runner_cfg

import tst_mm  # noqa: F401

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


@pytest.mark.slow
def test_ema_hook_validates_and_saves_the_averaged_student(tmp_path, fashion_mnist_root,
                                                           fashion_teacher_ckpt):
    # The hook copies the model before training, when the teacher is not built yet, and
    # swaps the two models' tensors by position at every validation.
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', fashion_teacher_ckpt,
                             fashion_mnist_root, tmp_path, 'ema')
    cfg.train_cfg.update(max_epochs=2, search_epochs=[1], val_interval=1)
    cfg.param_scheduler.student[0].end = 2
    cfg.custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage',
                             momentum=0.5, update_buffers=True, priority=49)]
    runner = Runner.from_cfg(cfg)
    initial = {key: value.clone() for key, value in runner.model.state_dict().items()
               if key.startswith('augmenter.')}
    runner.train()  # validates after each epoch

    model = runner.model
    ema = next(hook for hook in runner.hooks if type(hook).__name__ == 'EMAHook').ema_model
    assert runner.message_hub.get_scalar('val/accuracy/top1') is not None
    # the teacher is the checkpoint's after both validations (never swapped with anything)
    teacher = torch.load(fashion_teacher_ckpt, map_location='cpu', weights_only=False)
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher['state_dict'][key]), key
    # the saved student is the averaged one, which differs from the trained one
    saved = torch.load(tmp_path / 'epoch_2.pth', map_location='cpu', weights_only=False)
    averaged = ema.module.state_dict()
    live = model.state_dict()
    student_keys = [key for key in live if key.startswith('student.') and
                    live[key].is_floating_point()]
    assert student_keys
    for key in student_keys:
        assert torch.equal(saved['state_dict'][key], averaged[key]), key
    assert any(not torch.equal(averaged[key], live[key]) for key in student_keys)
    # the augmenter is not averaged: checkpoints carry the policy the search learned
    augmenter_keys = [key for key in live if key.startswith('augmenter.')]
    assert augmenter_keys
    searched = False
    for key in augmenter_keys:
        assert torch.equal(saved['state_dict'][key], live[key]), key
        assert torch.equal(saved['ema_state_dict']['module.' + key], live[key]), key
        searched |= not torch.equal(live[key], initial[key])
    assert searched  # the search phase moved the policy, so an average would differ
