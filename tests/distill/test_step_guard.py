"""Non-finite steps: skipped on every rank together, leaving models and optimizers as they were."""
import copy
import json
import os
import os.path as osp
import sys
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner
from tst_testing import ROOT, fashion_runner_cfg, free_port, run_ranks

import tst_mm  # noqa: F401
from tst_mm.distill.update import GuardedUpdate, OptimizedPart, SkipCounter, TrainingDiverged
from tst_mm.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from tst_mm.utils import ConfigError

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
    """Two gloo processes; rank 1 alone gets a NaN image, then a non-finite update, then an
    error. Before the guard was collective, rank 0 went on to the gradient all-reduce alone
    and gloo failed with a size mismatch (NCCL would hang). The timeout bounds a hang. The
    non-finite update is found after the optimizer's step: without the restore of the
    optimizer's state, both ranks would keep that step's momentum."""
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
        # rank 1 alone makes a non-finite update (finite loss and gradients): the optimizer
        # has changed the momentum when the guard finds it, so only restoring the optimizer's
        # state puts it back, on rank 0 too (whose own update was finite)
        update_skipped = load(rank, 'search_inf_lr')
        assert update_skipped['outcome'] == 'ok'
        _assert_same(part(searched, 'augmenter.'), part(update_skipped, 'augmenter.'))
        _assert_same_optim(searched['optim']['augmenter'], update_skipped['optim']['augmenter'])
        distill_skipped, distilled = load(rank, 'distill_nan'), load(rank, 'distill')
        _assert_same(part(update_skipped, 'student.'), part(distill_skipped, 'student.'))
        _assert_same_optim(update_skipped['optim']['student'],
                           distill_skipped['optim']['student'])
        assert not torch.equal(distilled['state']['student.head.fc.weight'],
                               update_skipped['state']['student.head.fc.weight'])
    # parameters and momentum identical across ranks after every step (BN statistics are
    # per rank)
    for step in ('start', 'search_nan', 'search', 'search_inf_lr', 'distill_nan', 'distill'):
        rank0, rank1 = load(0, step), load(1, step)
        for key in rank0['state']:
            if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')):
                assert torch.equal(rank0['state'][key], rank1['state'][key]), (step, key)
        for name in ('student', 'augmenter'):
            _assert_same_optim(rank0['optim'][name], rank1['optim'][name])
    # an error in one rank's forward stops the other rank too, instead of a hang
    assert 'out of bounds' in load(1, 'search_error')['outcome']
    assert 'failed on another rank' in load(0, 'search_error')['outcome']


def _guarded_step(layer: torch.nn.Module, optim: OptimWrapper, inputs: torch.Tensor,
                  **kwargs) -> bool:
    """One guarded update of ``layer`` on ``inputs`` (a mean-square loss)."""
    with GuardedUpdate(optim, layer, 'distillation', **kwargs) as update:
        return update.apply(layer(inputs).pow(2).mean(), layer.parameters())


def _layer_and_optim(lr: float = 0.1):
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    return layer, OptimWrapper(torch.optim.SGD(layer.parameters(), lr=lr, momentum=0.9))


def test_skips_in_a_row_stop_training_naming_the_checkpoint_before_the_last_update():
    hub = MessageHub.get_instance(f'guard_{uuid.uuid4().hex}')  # the current one from now
    layer, optim = _layer_and_optim()
    counter = SkipCounter(limit=3)
    good, nan = torch.randn(8, 4), torch.full((8, 4), float('nan'))
    hub.update_info('last_ckpt', 'work/epoch_1.pth')
    assert _guarded_step(layer, optim, good, counter=counter)
    hub.update_info('last_ckpt', 'work/epoch_2.pth')  # saved after that update: suspect
    state = copy.deepcopy(layer.state_dict())
    assert not _guarded_step(layer, optim, nan, counter=counter)
    assert not _guarded_step(layer, optim, nan, counter=counter)
    assert (counter.total, counter.in_a_row) == (2, 2)
    with pytest.raises(TrainingDiverged, match='3 TST distillation steps in a row') as info:
        _guarded_step(layer, optim, nan, counter=counter)
    assert isinstance(info.value, ConfigError)  # tools/train.py: one line, no traceback
    assert 'is work/epoch_1.pth' in str(info.value)
    _assert_same(state, layer.state_dict())  # every skip put the BN statistics back
    assert _guarded_step(layer, optim, good, counter=counter)  # an update resets the row
    assert (counter.total, counter.in_a_row) == (3, 0)


def test_an_update_that_makes_the_student_non_finite_stops_training_at_once():
    """Nothing could put back a part without a copy of its parameters (the student): instead
    of skipping every later step until the end, the run stops at this update."""
    MessageHub.get_instance(f'guard_{uuid.uuid4().hex}')
    layer, optim = _layer_and_optim(lr=float('inf'))
    with pytest.raises(TrainingDiverged, match='non-finite parameters or buffers after a TST '
                       'distillation update') as info:
        _guarded_step(layer, optim, torch.randn(8, 4), counter=SkipCounter())
    assert 'no checkpoint was saved before its last update' in str(info.value)


def test_a_skip_puts_back_the_buffers_it_is_given():
    """A teacher in train mode (``teacher_norm_eval=False``) updates its BN statistics in
    the forward: a non-finite batch made them NaN for the rest of training."""
    layer, optim = _layer_and_optim()
    teacher = torch.nn.BatchNorm1d(4)
    before = copy.deepcopy(teacher.state_dict())
    with GuardedUpdate(optim, layer, 'distillation',
                       buffers=[*layer.buffers(), *teacher.buffers()]) as update:
        inputs = torch.full((8, 4), float('nan'))
        loss = layer(inputs).mean() + teacher(inputs).mean()
        assert not update.apply(loss, layer.parameters())
    _assert_same(before, teacher.state_dict())


@pytest.mark.parametrize('phase', ['distill', 'search'])
def test_a_skipped_step_puts_back_the_teacher_bn_statistics(fashion_mnist_root, phase):
    """With ``teacher_norm_eval=False`` the teacher's forward updates its BN statistics; a
    non-finite batch left them NaN for the rest of training."""
    model, optim = _build()
    model.teacher_norm_eval = False
    model.train()
    model.set_phase(phase)
    model.train_step(_batch(fashion_mnist_root), optim)
    teacher = copy.deepcopy(model.teacher.state_dict())
    log_vars = model.train_step(_batch(fashion_mnist_root, nan=True), optim)
    _assert_same(teacher, model.teacher.state_dict())
    skipped = log_vars['student.skipped_steps' if phase == 'distill' else 'augment.skipped']
    assert skipped == 1


def test_an_exploding_update_stops_the_run_naming_the_last_good_checkpoint(
        fashion_mnist_root, tmp_path):
    """Student lr 1e30 from the second epoch: its first update makes the student useless and
    every later step is skipped; before, until the end of training, with one warning."""
    cfg = fashion_runner_cfg('configs/demo/tst_fashion-mnist.py', None, fashion_mnist_root,
                             tmp_path, 'diverge')
    cfg.model.update(allow_random_teacher=True, max_consecutive_skips=2)
    cfg.train_cfg.update(max_epochs=3, search_epochs=[], preflight=False)
    cfg.param_scheduler.student = [dict(type='MultiStepLR', by_epoch=True, milestones=[1],
                                        gamma=1e31)]
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TrainingDiverged) as info:
        runner.train()
    assert str(info.value).startswith('2 TST distillation steps in a row skipped')
    assert f'is {tmp_path / "epoch_1.pth"};' in str(info.value)
    assert not (tmp_path / 'epoch_3.pth').exists()
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        skipped = [record['student.skipped_steps'] for record in map(json.loads, f)
                   if 'student.skipped_steps' in record]
    assert skipped[:3] == [0, 0, 0] and skipped[-1] == 1  # the second skip stops the run


def test_each_optimized_part_keeps_its_own_rule_and_skips():
    """Two parts in one ``OptimWrapperDict``: an update steps only its part's wrapper; an
    update that makes the part non-finite is a skip that puts parameters and momentum back
    for the part with ``keep_params`` (the augmenter) and stops training for the other (the
    student); each part counts its own skips across steps."""
    MessageHub.get_instance(f'guard_{uuid.uuid4().hex}')
    student, student_optim = _layer_and_optim(lr=float('inf'))
    augmenter, augmenter_optim = _layer_and_optim(lr=float('inf'))
    optim_wrapper = OptimWrapperDict(student=student_optim, augmenter=augmenter_optim)
    parts = {'student': OptimizedPart('student', 'distillation'),
             'augmenter': OptimizedPart('augmenter', 'search', keep_params=True,
                                        max_consecutive_skips=2)}
    assert parts['augmenter'].wrapper(optim_wrapper) is augmenter_optim
    inputs = torch.randn(8, 4)

    def step(name, module):
        with parts[name].update(optim_wrapper, module) as update:
            return update.apply(module(inputs).pow(2).mean(), module.parameters())

    student_before = copy.deepcopy(student.state_dict())
    augmenter_before = copy.deepcopy(augmenter.state_dict())
    momentum = copy.deepcopy(augmenter_optim.optimizer.state_dict())
    assert not step('augmenter', augmenter)  # lr inf: non-finite after the step, put back
    _assert_same(augmenter_before, augmenter.state_dict())
    _assert_same_optim(momentum, augmenter_optim.optimizer.state_dict())
    _assert_same(student_before, student.state_dict())  # the other wrapper did not step
    assert [(part.skips.total, part.skips.in_a_row) for part in parts.values()] == [
        (0, 0), (1, 1)]
    with pytest.raises(TrainingDiverged, match='2 TST search steps in a row'):
        step('augmenter', augmenter)
    with pytest.raises(TrainingDiverged, match='after a TST distillation update'):
        step('student', student)  # nothing to put back: stops at once, not a skip
    assert [(part.skips.total, part.skips.in_a_row) for part in parts.values()] == [
        (0, 0), (2, 2)]
