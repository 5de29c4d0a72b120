"""Non-finite steps: skipped on every rank together, leaving models and optimizers as they were."""
import copy
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from tst_testing import ROOT, free_port, run_ranks

import tst_mm  # noqa: F401
from tst_mm.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')


pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def _build(**optim):
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher_ckpt = None
    cfg.allow_random_teacher = True
    model = MODELS.build(cfg)
    model.train()
    wrapper = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            augmenter=dict(optimizer=dict(type='SGD', lr=1.0, momentum=0.9)))))(model)
    return model, wrapper


def _batch(root, nan=False):
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=root, split='train',
                                  download=False, pipeline=[dict(type='PackInputs')],
                                  indices=8))
    data = pseudo_collate([dataset[i] for i in range(8)])
    if nan:
        data['inputs'][0] = data['inputs'][0].float() * float('nan')
    return data


def _assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key


def _assert_same_optim(before: dict, after: dict) -> None:
    """Two optimizer state dicts hold the same state (momentum) and settings."""
    assert before['param_groups'] == after['param_groups']
    assert before['state'].keys() == after['state'].keys()
    for index, state in before['state'].items():
        assert state.keys() == after['state'][index].keys()
        for key, value in state.items():
            other = after['state'][index][key]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (index, key)


def _momentum(wrapper) -> dict:
    return {key: state['momentum_buffer'].clone()
            for key, state in wrapper.optimizer.state_dict()['state'].items()}


def test_update_that_makes_the_policy_non_finite_restores_policy_and_momentum(
        fashion_mnist_root):
    """The frozen-policy bug: after a restored step, the optimizer's momentum must not hold
    the non-finite update, or every later step is non-finite too."""
    model, optim = _build()
    model.set_phase('search')
    batch = _batch(fashion_mnist_root)
    model.train_step(batch, optim)  # a good step: momentum now exists
    policy = copy.deepcopy(model.augmenter.state_dict())
    momentum = _momentum(optim['augmenter'])
    optim['augmenter'].optimizer.param_groups[0]['lr'] = float('inf')  # finite loss and
    model.train_step(batch, optim)  # gradients, non-finite update
    _assert_same(policy, model.augmenter.state_dict())
    _assert_same(momentum, _momentum(optim['augmenter']))
    optim['augmenter'].optimizer.param_groups[0]['lr'] = 1.0
    model.train_step(batch, optim)  # learning goes on
    after = model.augmenter.state_dict()
    assert all(torch.isfinite(value).all() for value in after.values())
    assert not torch.equal(after['probability_logits'], policy['probability_logits'])


def test_non_finite_distillation_step_leaves_student_and_optimizer_as_before(
        fashion_mnist_root):
    model, optim = _build()
    model.train_step(_batch(fashion_mnist_root), optim)
    student = copy.deepcopy(model.student.state_dict())  # BN statistics included
    momentum = _momentum(optim['student'])
    log_vars = model.train_step(_batch(fashion_mnist_root, nan=True), optim)
    assert not torch.isfinite(torch.as_tensor(log_vars['loss']))
    _assert_same(student, model.student.state_dict())
    _assert_same(momentum, _momentum(optim['student']))
    assert all(p.grad is None or not p.grad.any() for p in model.student.parameters())


def test_two_ranks_skip_together_when_only_rank_1_sees_nan(fashion_mnist_root, tmp_path):
    """Two gloo processes; rank 1 alone gets a NaN image (then an error). Before the guard
    was collective, rank 0 went on to the gradient all-reduce alone and gloo failed with a
    size mismatch (NCCL would hang). The timeout bounds a hang."""
    port = str(free_port())
    run_ranks(lambda rank: [sys.executable, osp.join(ROOT, 'tests/nan_guard_worker.py'),
                            str(rank), '2', port, fashion_mnist_root, str(tmp_path)],
              lambda rank: dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT), cwd=ROOT,
              timeout=300)

    def load(rank, step):
        return torch.load(tmp_path / f'rank{rank}_{step}.pth', weights_only=False)

    def part(snapshot, prefix):
        return {key: value for key, value in snapshot['state'].items()
                if key.startswith(prefix)}

    for rank in (0, 1):
        start, skipped, searched = load(rank, 'start'), load(rank, 'search_nan'), \
            load(rank, 'search')
        assert skipped['outcome'] == searched['outcome'] == 'ok'
        # both ranks skipped: policy and the augmenter's momentum (taken by a good step
        # before) as they were
        assert start['optim']['augmenter']['state'] and start['optim']['student']['state']
        _assert_same(part(start, 'augmenter.'), part(skipped, 'augmenter.'))
        _assert_same_optim(start['optim']['augmenter'], skipped['optim']['augmenter'])
        # the next finite step moves the policy and the momentum
        assert not torch.equal(searched['state']['augmenter.probability_logits'],
                               start['state']['augmenter.probability_logits'])
        assert not torch.equal(searched['optim']['augmenter']['state'][0]['momentum_buffer'],
                               start['optim']['augmenter']['state'][0]['momentum_buffer'])
        distill_skipped, distilled = load(rank, 'distill_nan'), load(rank, 'distill')
        _assert_same(part(searched, 'student.'), part(distill_skipped, 'student.'))
        _assert_same_optim(searched['optim']['student'], distill_skipped['optim']['student'])
        assert not torch.equal(distilled['state']['student.head.fc.weight'],
                               searched['state']['student.head.fc.weight'])
    # parameters and momentum identical across ranks after every step (BN statistics are
    # per rank)
    for step in ('start', 'search_nan', 'search', 'distill_nan', 'distill'):
        rank0, rank1 = load(0, step), load(1, step)
        for key in rank0['state']:
            if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')):
                assert torch.equal(rank0['state'][key], rank1['state'][key]), (step, key)
        for name in ('student', 'augmenter'):
            _assert_same_optim(rank0['optim'][name], rank1['optim'][name])
    # an error in one rank's forward stops the other rank too, instead of a hang
    assert 'out of bounds' in load(1, 'search_error')['outcome']
    assert 'failed on another rank' in load(0, 'search_error')['outcome']
