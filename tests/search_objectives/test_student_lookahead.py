"""StudentLookahead: the two hypergradient estimators agree, and a few lookahead steps move the
policy away from ops that spoil what a distillation step teaches (and the way back to KD, the
learned weight of ``x'``, goes down there); flipping the hypergradient's sign breaks both."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from tst_testing import ROOT, fashion_samples

import tst_mm  # noqa: F401
from tst_mm.distill.virtual_step import build_virtual_step
from tst_mm.errors import ConfigError
from tst_mm.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from tst_mm.search_objectives import SearchEvidence, StudentLookahead

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


@MODELS.register_module(force=True)
class _FlippedLookahead(StudentLookahead):
    """The lookahead with its hypergradient's sign flipped: what the direction tests must
    tell apart from the real one."""

    def forward(self, step):
        out = super().forward(step)
        out['augment.loss_lookahead'] = -out['augment.loss_lookahead']
        return out


def _distiller(teacher_ckpt, objective, **augmenter):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')).model
    cfg.teacher_ckpt = teacher_ckpt
    cfg.search_objective = objective
    cfg.pop('weakness_loss')
    cfg.pop('search_loss_weights')
    cfg.augmenter.update(augmenter)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model


def _optim(model, augmenter_lr):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            augmenter=dict(optimizer=dict(type='Adam', lr=augmenter_lr)))))(model)


def _warm_up(model, optim, batches, steps):
    """A few plain distillation steps, so the student is no longer at its random start."""
    model.set_phase('distill')
    for i in range(steps):
        model.train_step(copy.deepcopy(batches[i % len(batches)]), optim)


def _cosine(a, b):
    a, b = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float(a @ b / (a.norm() * b.norm()))


def test_exact_and_finite_difference_hypergradients_agree(fashion_teacher_ckpt,
                                                          fashion_mnist_root):
    model = _distiller(fashion_teacher_ckpt, dict(type='tst_mm.StudentLookahead'),
                       temperature=0.5, learn_x_prime_weight=True)
    optim = _optim(model, 0.05)
    batches = [pseudo_collate(fashion_samples(fashion_mnist_root, 64)[i::2]) for i in (0, 1)]
    _warm_up(model, optim, batches, 4)
    data = model.data_preprocessor(copy.deepcopy(batches[0]), True)
    inputs, samples = data['inputs'], data['data_samples']
    torch.manual_seed(3)
    aug, aug_samples = model.augmenter(inputs[:16], copy.deepcopy(samples[:16]))
    params = {name: p for name, p in model.student.named_parameters() if p.requires_grad}
    step = build_virtual_step(model.student, model.teacher, model.adapter, model.distill_losses,
                              params, 0.1, aug, aug_samples, inputs[:16], samples[:16],
                              inputs[16:], samples[16:],
                              x_prime_weight=model.augmenter.x_prime_weight())
    policy = list(model.augmenter.parameters())
    grads = {}
    for estimator in ('exact', 'finite_difference'):
        evidence = SearchEvidence({'virtual_step': lambda _: step})
        out = StudentLookahead(estimator=estimator)(evidence)
        grads[estimator] = torch.autograd.grad(out['augment.loss_lookahead'], policy,
                                               retain_graph=True, allow_unused=True)
        assert out['augment.heldout_after'] < out['augment.heldout_before']
    exact = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads['exact'], policy)]
    approx = [g if g is not None else torch.zeros_like(p)
              for g, p in zip(grads['finite_difference'], policy)]
    cosine = _cosine(exact, approx)
    # measured here: 0.976 at the default epsilon (0.88 to 0.99 over epsilon 3e-4 to 0.1: the
    # student's ReLU kinks, which a shift of +- epsilon v crosses, make the finite difference
    # of gradients noisy at every scale; the exact estimate ignores them)
    assert cosine > 0.9, cosine
    assert all(float(g.abs().sum()) > 0 for g in exact)  # magnitudes, probabilities, weight
    # nothing of the student moved: the virtual step is virtual
    assert all(p.grad is None for p in model.student.parameters())


def _lookahead_run(teacher_ckpt, data_root, objective_type):
    """Eight lookahead steps from a pool of destructive ops only (invert; solarize at its
    full strength), from a student warmed up by a few distillation steps. One op per draw:
    solarize at full strength inverts every pixel, so the two in turn give back ``x`` (with
    both drawn, a rising solarize probability undoes invert: a policy may rightly learn it)."""
    model = _distiller(teacher_ckpt, dict(type=objective_type),
                       ops=['invert', 'solarize'], num_ops=1, temperature=0.5,
                       init_magnitude_logit=4.0, learn_x_prime_weight=True)
    optim = _optim(model, 0.1)
    samples = fashion_samples(data_root, 256)
    batches = [pseudo_collate(samples[i::4]) for i in range(4)]
    _warm_up(model, optim, batches, 8)
    before = (model.augmenter.probabilities().detach().clone(),
              float(model.augmenter.x_prime_weight()))
    model.set_phase('search')
    torch.manual_seed(0)
    for i in range(8):
        log_vars = model.train_step(copy.deepcopy(batches[i % 4]), optim)
        assert log_vars['augment.skipped'] == 0
    after = (model.augmenter.probabilities().detach(), float(model.augmenter.x_prime_weight()))
    return before, after


@pytest.mark.slow
@pytest.mark.parametrize('objective_type, lowers', [('tst_mm.StudentLookahead', True),
                                                    ('tst_mm._FlippedLookahead', False)])
def test_lookahead_lowers_destructive_ops_and_the_weight_of_x_prime(
        fashion_teacher_ckpt, fashion_mnist_root, objective_type, lowers):
    (probs_before, weight_before), (probs_after, weight_after) = _lookahead_run(
        fashion_teacher_ckpt, fashion_mnist_root, objective_type)
    went_down = bool((probs_after < probs_before).all()) and weight_after < weight_before
    assert went_down == lowers, (probs_before, probs_after, weight_before, weight_after)


def test_estimator_and_settings_are_checked():
    with pytest.raises(ConfigError, match='estimator'):
        StudentLookahead(estimator='second_order')
    with pytest.raises(ConfigError, match='epsilon'):
        StudentLookahead(epsilon=0)
    assert StudentLookahead('exact').needs == {'virtual_step', 'double_backward'}
    assert StudentLookahead().needs == StudentLookahead.needs == {'virtual_step'}


def test_x_prime_weight_runs_from_plain_kd_through_the_plain_mean():
    from mmengine.registry import init_default_scope
    from mmpretrain.structures import DataSample

    from tst_mm.distill.task_adapters import ClassificationAdapter
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py'))
    torch.manual_seed(0)
    student, teacher = MODELS.build(cfg.student).eval(), MODELS.build(cfg.student).eval()
    inputs = torch.randn(8, 1, 28, 28)
    samples = [DataSample().set_gt_label(i % 10) for i in range(8)]
    losses = {'kd': MODELS.build(dict(type='tst_mm.KDLoss', tau=4.0))}
    adapter = ClassificationAdapter(student)

    def total(**kwargs):
        out = adapter.distill_losses(teacher, kwargs.pop('inputs', inputs),
                                     kwargs.pop('samples', samples), losses, **kwargs)
        return out['student.loss'] + out['distill.loss_kd']

    plain = total(num_augmented=4)
    assert torch.allclose(total(num_augmented=4, x_prime_weight=torch.tensor(1.0)), plain)
    clean_only = total(inputs=inputs[4:], samples=samples[4:])
    assert torch.allclose(total(num_augmented=4, x_prime_weight=torch.tensor(0.0)), clean_only)
    weight = torch.tensor(0.5, requires_grad=True)
    value = total(num_augmented=4, x_prime_weight=weight)
    value.backward()
    # the weighted mean lies between the two and moves with the weight
    assert min(plain, clean_only) < value < max(plain, clean_only)
    assert float(weight.grad.abs()) > 0


def test_lookahead_step_with_mixing_ops_moves_their_probabilities(fashion_teacher_ckpt,
                                                                   fashion_mnist_root):
    """x' with mixed (soft) targets and clean x in one virtual step: the clean samples get
    targets of the same form, and the hypergradient reaches the mixing ops."""
    model = _distiller(fashion_teacher_ckpt, dict(type='tst_mm.StudentLookahead'),
                       ops=['mixup', 'cutmix'], num_ops=None, temperature=0.5)
    optim = _optim(model, 0.1)
    batch = pseudo_collate(fashion_samples(fashion_mnist_root, 32))
    before = model.augmenter.probability_logits.detach().clone()
    model.set_phase('search')
    torch.manual_seed(0)
    log_vars = model.train_step(copy.deepcopy(batch), optim)
    assert log_vars['augment.skipped'] == 0
    assert (model.augmenter.probability_logits.detach() != before).all()
