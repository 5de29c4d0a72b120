"""The student's half of TST's detection search objective: its own task losses, inverted.

During a search step the student computes its ordinary mmdet ``loss()`` on the augmented batch,
but every loss module of its heads is temporarily replaced by an inverted counterpart, so that
minimising the result makes the batch *harder* for the student. Nothing in mmdet is edited: the
loss modules are swapped in (``setattr`` on their parent module) for the duration of a ``with``
block and put back afterwards, even on error.

How each mmdet loss is inverted (the loss weight of the original module is kept). With
``targets='positives'`` (default) a classification loss is evaluated as if the true-class
entries of the positive samples had the target 0, on those entries only; with ``'all'`` every
target is flipped, ``t -> 1 - t``:

================================  =========================================================
mmdet loss                        inverted form (bounded below, so the search cannot run away)
================================  =========================================================
``CrossEntropyLoss`` (softmax)    ``-log(1 - p_y)`` (the ``weakness`` loss, e.g.
                                  ``tst_mm.StudentWeaknessLoss``) over positive samples
                                  (``'positives'``) or all samples (``'all'``)
``CrossEntropyLoss`` (sigmoid;    the same loss on flipped targets: only the true-class entry
e.g. YOLOX objectness)            of positive samples, pushed to 0, or every entry flipped
``FocalLoss`` (also on            as above (TOOD's probability inputs included)
probabilities, ``activated``)
``QualityFocalLoss`` (GFL,        positives' quality targets pushed to 0:
RTMDet, TOOD)                     ``-log(1 - p) * p ** beta`` on their true-class entries;
                                  ``'all'``: the loss on the soft targets ``1 - q``
``VarifocalLoss``                 the same loss with the positive entries' IoU targets set to
                                  0 (``'all'``: soft targets ``1 - q``)
``CrossEntropyLoss`` (mask),      the same loss on flipped mask targets ``1 - t``
``DiceLoss`` (RTMDet-Ins)
regression (L1, SmoothL1,         ``regression='reciprocal'``: ``1 / (1 + L)``;
Balanced L1, MSE, IoU family,     ``'clamp'``: ``-min(L, regression_cap)``; ``'negate'``: ``-L``
``DistributionFocalLoss``)        (unbounded, for comparison only)
================================  =========================================================

The inversion of a loss is chosen by its class (:func:`inversion_kind`, looked up along the
class's bases, so subclasses are covered); :func:`register_inversion` adds a class. Every child
module whose attribute name has a ``loss`` word (``loss_cls``, ``initial_loss_cls``, ...) is a
loss module; any of them whose class has no inversion is refused with an error naming it and
where it sits in the model.

DETR-family heads (DINO, Deformable DETR) compute their classification loss on the queries the
Hungarian matching assigned to objects: the inverted focal loss then pushes down the matched
queries' true-class scores, which is what "positives" means there.
"""
import contextlib
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tst_mm.errors import ConfigError, UnsupportedModelError, check_choice
from tst_mm.registry import MODELS

__all__ = ['InvertedDetectionLosses', 'InvertedLoss', 'find_loss_modules', 'inversion_kind',
           'register_inversion', 'supported_losses', 'KINDS']

TARGETS = ('positives', 'all')
REGRESSIONS = ('reciprocal', 'clamp', 'negate')
#: The inverted forms (:meth:`InvertedLoss.forms`).
KINDS = ('softmax_ce', 'sigmoid_ce', 'mask', 'focal', 'quality_focal', 'varifocal',
         'regression')

#: Loss class -> kind, or a callable choosing the kind from the module (``None``: refused).
_INVERSIONS: Dict[type, Union[str, Callable[[nn.Module], Optional[str]]]] = {}
_MMDET_REGISTERED = False


def register_inversion(loss_type: type,
                       kind: Union[str, Callable[[nn.Module], Optional[str]]]) -> None:
    """Say how the search step inverts a loss class (and its subclasses).

    Args:
        loss_type: The loss module class.
        kind: One of :data:`KINDS`, or a callable that returns one of them (or ``None`` to
            refuse) for a given loss module.
    """
    if isinstance(kind, str):
        check_choice('kind', kind, KINDS)
    _INVERSIONS[loss_type] = kind


def _cross_entropy_kind(loss: nn.Module) -> str:
    if getattr(loss, 'use_mask', False):
        return 'mask'
    return 'sigmoid_ce' if getattr(loss, 'use_sigmoid', False) else 'softmax_ce'


def _inversions() -> Dict[type, Union[str, Callable[[nn.Module], Optional[str]]]]:
    """The table, with mmdet's losses added on first use (what was registered before wins)."""
    global _MMDET_REGISTERED
    if not _MMDET_REGISTERED:
        from mmdet.models import losses
        defaults = {losses.CrossEntropyLoss: _cross_entropy_kind, losses.FocalLoss: 'focal',
                    losses.QualityFocalLoss: 'quality_focal',
                    losses.VarifocalLoss: 'varifocal', losses.DiceLoss: 'mask'}
        for regression in (losses.L1Loss, losses.SmoothL1Loss, losses.BalancedL1Loss,
                           losses.MSELoss, losses.IoULoss, losses.BoundedIoULoss,
                           losses.GIoULoss, losses.DIoULoss, losses.CIoULoss, losses.EIoULoss,
                           losses.SIoULoss, losses.DistributionFocalLoss):
            defaults[regression] = 'regression'
        for loss_type, kind in defaults.items():
            _INVERSIONS.setdefault(loss_type, kind)
        _MMDET_REGISTERED = True
    return _INVERSIONS


def inversion_kind(loss: nn.Module) -> Optional[str]:
    """How a loss module is inverted (one of :data:`KINDS`), or ``None`` if it cannot be."""
    table = _inversions()
    for cls in type(loss).__mro__:
        if cls in table:
            kind = table[cls]
            return kind(loss) if callable(kind) else kind
    return None


def supported_losses() -> List[str]:
    """Names of the loss classes the search step can invert."""
    return sorted(cls.__name__ for cls in _inversions())


def find_loss_modules(model: nn.Module) -> List[Tuple[nn.Module, str, nn.Module]]:
    """All loss modules of a model: children with a ``loss`` word in their attribute name
    (``loss_cls``, ``loss_bbox``, TOOD's ``initial_loss_cls``, ...).

    Returns:
        ``(parent, attribute, loss_module)`` triples, in module order.
    """
    found = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if 'loss' in name.split('_') and not isinstance(child, InvertedLoss):
                found.append((parent, name, child))
    return found


def _module_path(model: nn.Module, target: nn.Module) -> str:
    for path, module in model.named_modules():
        if module is target:
            return path or type(model).__name__
    return '?'


class InvertedLoss(nn.Module):
    """One mmdet loss module, inverted for the search step (see the module docstring).

    Args:
        loss: The original mmdet loss module (called, never modified).
        kind: How it is inverted, one of :data:`KINDS`.
        weakness: The ``-log(1 - p_y)`` loss used for softmax cross-entropy.
        targets: ``'positives'`` or ``'all'``.
        regression: ``'reciprocal'``, ``'clamp'`` or ``'negate'``.
        regression_cap: The cap of ``'clamp'``.
        background_index: The label of background samples for classification losses (the
            head's ``num_classes``), or ``None`` if the head has no background label.
    """

    def __init__(self, loss: nn.Module, kind: str, weakness: nn.Module, targets: str,
                 regression: str, regression_cap: float,
                 background_index: Optional[int]) -> None:
        super().__init__()
        self.loss = loss
        self.kind = kind
        self.weakness = weakness
        self.targets = targets
        self.regression = regression
        self.regression_cap = float(regression_cap)
        self.background_index = background_index
        self._form = self.forms()[kind]

    def forms(self) -> Dict[str, Callable[..., Tensor]]:
        """Each kind of :data:`KINDS` and the method computing its inverted form."""
        return {'softmax_ce': self._softmax_ce, 'sigmoid_ce': self._sigmoid_ce,
                'mask': self._mask, 'focal': self._focal, 'quality_focal': self._quality_focal,
                'varifocal': self._varifocal, 'regression': self._regression}

    # ------------------------------------------------------------------ helpers
    def _positive(self, labels: Tensor, ignore_index: Optional[int]) -> Tensor:
        """Bool mask of samples labelled with a real class (not background, not ignored)."""
        valid = labels >= 0
        if ignore_index is not None:
            valid &= labels != ignore_index
        if self.background_index is not None:
            valid &= labels != self.background_index
        return valid

    def _reduction(self, reduction_override: Optional[str]) -> str:
        return reduction_override or getattr(self.loss, 'reduction', 'mean')

    # ------------------------------------------------------------------ kinds
    def _softmax_ce(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                    avg_factor=None, reduction_override: Optional[str] = None,
                    ignore_index: Optional[int] = None, **kwargs) -> Tensor:
        if self._reduction(reduction_override) != 'mean':
            raise NotImplementedError(
                f'the inverted softmax cross-entropy of the TST search step only supports '
                f"reduction='mean', got {self._reduction(reduction_override)!r} (e.g. an OHEM "
                'sampler); use another sampler for the student')
        ignore = ignore_index if ignore_index is not None else self.loss.ignore_index
        valid = (label >= 0) & (label != (-100 if ignore is None else ignore))
        keep = self._positive(label, ignore) if self.targets == 'positives' else valid
        keep_w = keep.float() if weight is None else keep.float() * weight.float()
        safe = torch.where(keep, label, torch.zeros_like(label))
        count = keep.sum().clamp(min=1).float()
        return self.loss.loss_weight * self.weakness(cls_score, safe, weight=keep_w,
                                                     avg_factor=count)

    def _one_hot(self, pred: Tensor, label: Tensor, ignore: int) -> Tuple[Tensor, Tensor]:
        """mmdet's convention: class-index labels ``>= C`` (background) give all-zero rows."""
        channels = pred.size(-1)
        valid = (label >= 0) & (label != ignore)
        real = valid & (label < channels)
        onehot = torch.zeros_like(pred)
        rows = torch.nonzero(real, as_tuple=True)[0]
        onehot[rows, label[rows]] = 1.0
        return onehot, valid

    def _flipped(self, pred: Tensor, label: Tensor, weight: Optional[Tensor],
                 ignore: int) -> Tuple[Tensor, Tensor]:
        """Flipped float targets and per-entry weights for a sigmoid classifier."""
        if label.dim() == pred.dim():  # already per-entry (soft) targets
            target = label.float()
            valid = ((label >= 0) & (label != ignore)).float()
            entry_w = valid if weight is None else weight.float().expand_as(valid) * valid
            if self.targets == 'positives':
                entry_w = entry_w * (target > 0).float()
                return torch.zeros_like(target), entry_w
            return torch.where(valid > 0, 1.0 - target, target), entry_w
        onehot, valid = self._one_hot(pred, label, ignore)
        row_w = valid.float() if weight is None else valid.float() * weight.float().view(-1)
        entry_w = row_w.view(-1, 1).expand_as(onehot)
        if self.targets == 'positives':  # the true-class entry of positive samples, to 0
            return torch.zeros_like(onehot), entry_w * onehot
        return 1.0 - onehot, entry_w

    def _sigmoid_ce(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                    avg_factor=None, reduction_override: Optional[str] = None,
                    ignore_index: Optional[int] = None, **kwargs) -> Tensor:
        ignore = ignore_index if ignore_index is not None else self.loss.ignore_index
        ignore = -100 if ignore is None else ignore
        if label.dim() == cls_score.dim() and not label.is_floating_point() \
                and cls_score.dim() == 1:
            label = label.float()
        target, entry_w = self._flipped(cls_score, label, weight, ignore)
        return self.loss(cls_score, target, entry_w, avg_factor=avg_factor,
                         reduction_override=reduction_override, **kwargs)

    def _focal(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
               avg_factor=None, reduction_override: Optional[str] = None) -> Tensor:
        flipped, entry_w = self._flipped(pred, target, weight, ignore=-100)
        return self.loss(pred, flipped, entry_w, avg_factor=avg_factor,
                         reduction_override=reduction_override)

    def _quality_targets(self, pred: Tensor, target: Union[Tensor, Tuple[Tensor, Tensor]]
                         ) -> Tuple[Tensor, Tensor]:
        """``(N, C)`` soft quality targets and the positive entries, from either of
        ``QualityFocalLoss``'s target forms (``(labels, scores)`` or per-entry scores)."""
        if isinstance(target, Tensor):
            soft = target.type_as(pred)
            return soft, soft != 0  # mmdet's positives of the per-entry form
        labels, scores = target
        onehot, _ = self._one_hot(pred, labels, ignore=-100)
        return onehot * scores.view(-1, 1).type_as(pred), onehot > 0

    def _quality_focal(self, pred: Tensor, target: Union[Tensor, Tuple[Tensor, Tensor]],
                       weight: Optional[Tensor] = None, avg_factor=None,
                       reduction_override: Optional[str] = None) -> Tensor:
        soft, positive = self._quality_targets(pred, target)
        if self.targets == 'all':
            return self.loss(pred, 1.0 - soft, weight, avg_factor=avg_factor,
                             reduction_override=reduction_override)
        from mmdet.models.losses import weight_reduce_loss
        zero = torch.zeros_like(pred)
        if getattr(self.loss, 'activated', False):  # probabilities in (TOOD)
            prob, bce = pred, F.binary_cross_entropy(pred, zero, reduction='none')
        else:
            prob = pred.sigmoid()
            bce = F.binary_cross_entropy_with_logits(pred, zero, reduction='none')
        per_sample = (bce * prob.pow(self.loss.beta) * positive).sum(dim=1)
        return self.loss.loss_weight * weight_reduce_loss(
            per_sample, weight, self._reduction(reduction_override), avg_factor)

    def _varifocal(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                   avg_factor=None, reduction_override: Optional[str] = None) -> Tensor:
        target = target.type_as(pred)
        if self.targets == 'all':
            return self.loss(pred, 1.0 - target, weight, avg_factor=avg_factor,
                             reduction_override=reduction_override)
        entry_w = (target > 0).type_as(pred)
        if weight is not None:
            entry_w = entry_w * (weight.view(-1, 1) if weight.dim() == 1 else weight)
        return self.loss(pred, torch.zeros_like(target), entry_w, avg_factor=avg_factor,
                         reduction_override=reduction_override)

    def _mask(self, mask_pred: Tensor, mask_target: Tensor, *args, **kwargs) -> Tensor:
        return self.loss(mask_pred, 1.0 - mask_target.float(), *args, **kwargs)

    def _regression(self, *args, **kwargs) -> Tensor:
        value = self.loss(*args, **kwargs)
        if self.regression == 'reciprocal':
            return 1.0 / (1.0 + value)
        if self.regression == 'clamp':
            return -value.clamp(max=self.regression_cap)
        return -value

    def forward(self, *args, **kwargs) -> Tensor:
        """Call the inverted loss with the original loss's arguments."""
        return self._form(*args, **kwargs)

    def __getattr__(self, name: str):
        """Attributes a head reads from its loss module (``use_sigmoid``, ...) are the
        original loss's."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__('loss'), name)

    def extra_repr(self) -> str:
        return (f'kind={self.kind!r}, targets={self.targets!r}, regression={self.regression!r}, '
                f'background_index={self.background_index}')


@MODELS.register_module()
class InvertedDetectionLosses(nn.Module):
    """TST's search objective for an mmdet student: its task losses, inverted in place.

    Give it as the distiller's ``weakness_loss`` to choose how the losses are inverted; with the
    default ``weakness_loss=dict(type='tst_mm.StudentWeaknessLoss')`` the detection adapter
    wraps that loss in this class with the defaults below (:meth:`around`).

    Args:
        weakness: Config (or module) of the ``-log(1 - p_y)`` loss for softmax classifiers;
            ``None`` means ``dict(type='tst_mm.StudentWeaknessLoss')``.
        targets: ``'positives'`` (default): only samples of a real class are inverted (their
            true-class score is pushed down), which keeps the loss on the scale of the
            ordinary one. ``'all'``: every target is flipped, background included (TST.md's
            literal reading; on dense heads the flipped background terms outweigh everything).
        regression: How box-regression losses are inverted: ``'reciprocal'`` (default,
            ``1 / (1 + L)``), ``'clamp'`` (``-min(L, regression_cap)``) or ``'negate'``
            (``-L``, unbounded).
        regression_cap: The cap of ``'clamp'``.

    Measured on the CPU demos (teacher trained briefly, 20-24 search steps, augmenter SGD with
    lr 0.01 and a 300x stress lr of 3.0): every mode stayed finite. With ``'positives'`` the
    weakness term is of the order of the teacher's loss (Faster R-CNN 6.0 vs 1.1, RetinaNet 4.5
    vs 1.8, nearly constant); with ``'all'`` it was 13.7 +- 1.9 on Faster R-CNN and
    2560 +- 580 on RetinaNet (1400x the teacher term), moving the policy logits ~8x faster and
    noisily. The three regression forms gave the same trajectories: the regression losses stayed
    below 1 and never reached the cap, so ``'reciprocal'`` (bounded whatever happens, gentler
    gradient ``1 / (1 + L)^2``) is the default on grounds of safety, not of a measured gain.
    """

    def __init__(self, weakness: Optional[Union[dict, nn.Module]] = None,
                 targets: str = 'positives', regression: str = 'reciprocal',
                 regression_cap: float = 2.0) -> None:
        super().__init__()
        if weakness is None:
            weakness = dict(type='tst_mm.StudentWeaknessLoss')
        check_choice('targets', targets, TARGETS)
        check_choice('regression', regression, REGRESSIONS)
        if regression_cap <= 0:
            raise ConfigError(f'regression_cap must be > 0, got {regression_cap}')
        self.weakness = weakness if isinstance(weakness, nn.Module) else MODELS.build(weakness)
        self.targets = targets
        self.regression = regression
        self.regression_cap = float(regression_cap)

    @classmethod
    def around(cls, weakness: nn.Module) -> 'InvertedDetectionLosses':
        """``weakness`` itself if it is an inversion policy, else the default policy that
        inverts softmax cross-entropy with it (a search objective's ``weakness_loss``)."""
        return weakness if isinstance(weakness, cls) else cls(weakness=weakness)

    @staticmethod
    def check_supported(model: nn.Module) -> None:
        """Raise ``UnsupportedModelError`` naming the first loss module that cannot be inverted."""
        for parent, name, loss in find_loss_modules(model):
            if inversion_kind(loss) is None:
                path = _module_path(model, parent)
                raise UnsupportedModelError(
                    f'{path}.{name} is a {type(loss).__name__}, which the TST search step '
                    f'cannot invert; supported student losses: {", ".join(supported_losses())}')

    def _wrap(self, parent: nn.Module, loss: nn.Module) -> InvertedLoss:
        kind = inversion_kind(loss)
        background = None
        num_classes = getattr(parent, 'num_classes', None)
        if kind in ('softmax_ce', 'sigmoid_ce', 'focal') and isinstance(num_classes, int):
            background = num_classes
        return InvertedLoss(loss, kind, self.weakness, self.targets, self.regression,
                            self.regression_cap, background)

    @contextlib.contextmanager
    def swapped(self, model: nn.Module) -> Iterator[Dict[str, InvertedLoss]]:
        """Within the block, every loss module of ``model`` is its inverted counterpart.

        Yields:
            The inverted modules by ``'<parent path>.<attribute>'``.

        Raises:
            UnsupportedModelError: If a loss module of ``model`` cannot be inverted (nothing is
                swapped).
        """
        self.check_supported(model)
        found = find_loss_modules(model)
        swapped = {}
        try:
            for parent, name, loss in found:
                wrapper = self._wrap(parent, loss)
                setattr(parent, name, wrapper)
                swapped[f'{_module_path(model, parent)}.{name}'] = wrapper
            yield swapped
        finally:
            for parent, name, loss in found:
                setattr(parent, name, loss)

    def forward(self, *args, **kwargs):
        raise RuntimeError('InvertedDetectionLosses is not called directly: the detection '
                           'adapter swaps it into the student with `swapped(student)`')

    def extra_repr(self) -> str:
        return (f'targets={self.targets!r}, regression={self.regression!r}, '
                f'regression_cap={self.regression_cap}')
