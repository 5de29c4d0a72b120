"""A search objective that asks the student: does one distillation step on ``x'`` help it?"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
from torch import Tensor

from tst_mm.registry import MODELS

from ..errors import ConfigError, check_choice
from .base import SearchObjective
from .evidence import DOUBLE_BACKWARD, VIRTUAL_STEP, SearchEvidence

__all__ = ['StudentLookahead', 'VirtualStep', 'ESTIMATORS']

#: The hypergradient estimators :class:`StudentLookahead` offers.
ESTIMATORS = ('finite_difference', 'exact')

#: The student's trainable parameters by name.
Params = Dict[str, Tensor]


@dataclass
class VirtualStep:
    """What a search step offers an objective that looks one student step ahead.

    The distiller builds it (:meth:`tst_mm.TSTDistiller.search_step`); the losses are the run's
    own (task loss plus KD losses, as a distillation step sums them), evaluated with the
    student's parameters replaced by the ones given, in train mode, leaving the student's own
    parameters and buffers (BN statistics) as they were.

    Attributes:
        params: The student's trainable parameters now, detached.
        lr: The learning rate of the virtual SGD step (the student's current one).
        train_loss: ``params -> loss`` of a distillation step on ``[x'; x]``, with gradients
            to the policy through ``x'`` (and through the teacher's output on ``x'``).
        heldout_loss: ``params -> loss`` on the clean held-out images, which the virtual step
            does not see.
    """

    params: Params
    lr: float
    train_loss: Callable[[Params], Tensor]
    heldout_loss: Callable[[Params], Tensor]


def _flat_dot(xs, ys) -> Tensor:
    return sum((x * y).sum() for x, y in zip(xs, ys))


@MODELS.register_module()
class StudentLookahead(SearchObjective):
    r"""Move the policy to what one distillation step teaches the student on other images.

    With :math:`L_\mathrm{tr}(w, \phi)` the run's distillation loss on ``[x'(φ); x]`` and
    :math:`L_\mathrm{ho}(w)` the same loss on held-out clean images, one virtual SGD step
    :math:`w' = w - \eta \nabla_w L_\mathrm{tr}(w, \phi)` at the student's learning rate
    :math:`\eta` gives the hypergradient (DARTS, Liu et al. 2019, eq. 7)

    .. math::
        \nabla_\phi L_\mathrm{ho}(w') = -\eta\, \nabla^2_{\phi, w} L_\mathrm{tr}(w, \phi)\, v,
        \qquad v = \nabla_{w'} L_\mathrm{ho}(w').

    The objective returns a surrogate, ``augment.loss_lookahead``, whose gradient with respect
    to the policy is that hypergradient (its value means nothing by itself), and log-only
    values: ``augment.heldout_before`` / ``augment.heldout_after``, the held-out loss at
    :math:`w` and at :math:`w'` (their difference is what the virtual step on this ``x'``
    taught), and ``augment.lookahead_norm``, :math:`\|v\|`.

    Two estimators of the mixed second derivative:

    - ``'exact'``: :math:`-\eta\, v^\top \nabla_w L_\mathrm{tr}` with the gradient taken with
      ``create_graph``, so backpropagating the surrogate is a double backward through the
      student (classification; mmcv's ops have no double backward);
    - ``'finite_difference'``: :math:`-\eta\,[L_\mathrm{tr}(w + \epsilon v) -
      L_\mathrm{tr}(w - \epsilon v)] / (2\epsilon)` with :math:`\epsilon =`
      ``epsilon`` / :math:`\|v\|`: first-order backward passes only, so every task runs it.

    Hypergradients are small (about 1e-3 on the patient Fashion-MNIST student): give the
    augmenter an optimizer whose steps do not scale with the gradient, e.g.
    ``optim_wrapper.augmenter.optimizer=dict(type='Adam', lr=0.05)``.

    Args:
        estimator: ``'finite_difference'`` or ``'exact'``.
        epsilon: Finite-difference step along :math:`v`, relative to its norm (DARTS: 0.01).
        lr: The virtual step's learning rate; ``None`` takes the student's current one.
        lr_scale: A factor on the virtual step's learning rate (the hypergradient is linear
            in it; an optimizer like Adam ignores the scale).
    """

    #: What a search step must offer: the distiller builds a :class:`VirtualStep` for it
    #: (and ``'exact'`` differentiates the student's backward pass: ``'double_backward'``).
    needs = frozenset({VIRTUAL_STEP})

    def __init__(self, estimator: str = 'finite_difference', epsilon: float = 0.01,
                 lr: Optional[float] = None, lr_scale: float = 1.0) -> None:
        super().__init__()
        check_choice('estimator', estimator, ESTIMATORS, owner='StudentLookahead')
        if not epsilon > 0 or (lr is not None and not lr > 0) or not lr_scale > 0:
            raise ConfigError(f'StudentLookahead: epsilon, lr and lr_scale must be > 0, got '
                              f'{epsilon}, {lr}, {lr_scale}')
        self.estimator = estimator
        self.epsilon = float(epsilon)
        self.lr = None if lr is None else float(lr)
        self.lr_scale = float(lr_scale)
        if estimator == 'exact':
            self.needs = self.needs | {DOUBLE_BACKWARD}

    def forward(self, evidence: SearchEvidence) -> Dict[str, Tensor]:
        """The surrogate loss and the log-only values (see the class docstring)."""
        step: VirtualStep = evidence[VIRTUAL_STEP]
        lr = (self.lr if self.lr is not None else step.lr) * self.lr_scale
        names = list(step.params)
        params = {name: step.params[name].detach().requires_grad_() for name in names}
        train_loss = step.train_loss(params)
        grads = torch.autograd.grad(train_loss, list(params.values()),
                                    create_graph=self.estimator == 'exact',
                                    retain_graph=True, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params.values(), grads)]
        with torch.no_grad():
            heldout_before = step.heldout_loss(params)
        after = {name: (params[name] - lr * grad).detach().requires_grad_()
                 for name, grad in zip(names, grads)}
        heldout_after = step.heldout_loss(after)
        direction = torch.autograd.grad(heldout_after, list(after.values()), allow_unused=True)
        direction = [torch.zeros_like(p) if d is None else d
                     for p, d in zip(after.values(), direction)]
        norm = torch.sqrt(sum((d.double() ** 2).sum() for d in direction)).float()
        if self.estimator == 'exact':
            surrogate = -lr * _flat_dot(grads, direction)
        else:
            eps = self.epsilon / norm.clamp_min(1e-12)
            shifted = [{name: params[name].detach() + sign * eps * d
                        for name, d in zip(names, direction)} for sign in (1.0, -1.0)]
            surrogate = -lr * (step.train_loss(shifted[0]) -
                               step.train_loss(shifted[1])) / (2 * eps)
        return {'augment.loss_lookahead': surrogate,
                'augment.heldout_before': heldout_before.detach(),
                'augment.heldout_after': heldout_after.detach(),
                'augment.lookahead_norm': norm.detach()}

    def extra_repr(self) -> str:
        """Show the settings in ``repr``."""
        return (f'estimator={self.estimator!r}, epsilon={self.epsilon}, lr={self.lr}, '
                f'lr_scale={self.lr_scale}')
