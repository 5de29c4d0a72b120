"""The learnable, differentiable batch augmenter of TST."""
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from tst_mm.registry import MODELS

from ..errors import ConfigError, check_choice, refuses_unknown_settings
from .gates import add_gated_change, open_gates, relaxed_bernoulli
from .geometry import warp_affine
from .label_geometry import apply_label_geometry, has_spatial_labels
from .label_rules import LABEL_RULE_DEFAULTS, LABEL_RULE_MEANINGS
from .mixing import MIX, draw_partners, mix_scores
from .normalization import normalization_tensors, normalized_to_unit, unit_to_normalized
from .ops import COLOR, FIXED, GEOMETRIC, OP_NAMES, AugmentOp, resolve_ops
from .policy_io import Policy, inverse_sigmoid, load_policy, save_policy
from .region import ValidRegion

__all__ = ['LearnableAugmenter']

GEOMETRIC_MODES = ('blend', 'compose')
SIGNS = ('random', 'positive')
OP_IMPLS = ('exact', 'learned')


def _check_settings(*, signs: str, geometric_mode: str, op_impl: str, temperature: float,
                    num_ops: Optional[int], learn_x_prime_weight: bool,
                    init_x_prime_weight: float) -> None:
    """Refuse the augmenter's settings that cannot work (see :class:`LearnableAugmenter`).

    Raises:
        ConfigError: Naming the first setting that cannot work.
    """
    check_choice('signs', signs, SIGNS)
    check_choice('geometric_mode', geometric_mode, GEOMETRIC_MODES)
    check_choice('op_impl', op_impl, OP_IMPLS)
    if temperature <= 0:
        raise ConfigError(f'temperature must be positive, got {temperature}.')
    if num_ops is not None and num_ops < 1:
        raise ConfigError(f'num_ops must be positive or None, got {num_ops}.')
    if not 0.0 <= init_x_prime_weight < 2.0 or (init_x_prime_weight != 1.0
                                                 and not learn_x_prime_weight):
        raise ConfigError(f'init_x_prime_weight must be in [0, 2), with '
                          f'learn_x_prime_weight=True; got {init_x_prime_weight} and '
                          f'{learn_x_prime_weight}')


@dataclass
class _DrawnOps:
    """One batch's draw: the ops (one subset for the batch), the sign each is applied with,
    and the ``(B, len(ops))`` relaxed-Bernoulli gates."""
    ops: List[AugmentOp]
    signs: List[float]
    gates: Tensor


@dataclass
class _Blended:
    """The blended batch, the geometric ops left to compose (gate, forward map), and the
    mixing partners and partner shares (``None`` for a pool without mixing ops)."""
    out: Tensor
    warps: List[Tuple[Tensor, Tensor]]
    partners: Optional[Tensor]
    shares: Optional[Tensor]


@MODELS.register_module()
@refuses_unknown_settings()
class LearnableAugmenter(BaseModule):
    """Differentiable augmentation with learnable op magnitudes and probabilities (TST).

    Takes and returns ``(inputs, data_samples)`` like an mmdet ``batch_augments`` entry, where
    ``inputs`` is a normalised, padded, stacked ``(B, C, H, W)`` batch. Each call:

    1. draws ``num_ops`` ops of the pool at random (one subset for the whole batch, torch's
       CPU RNG) and, with ``signs='random'``, a random sign per signed op;
    2. draws a relaxed-Bernoulli gate ``b`` per sample and drawn op from the probability logits;
    3. in ``[0, 1]`` pixel space, blends the color and fixed ops in parallel,
       ``x' = x + sum_k b_k (op_k(x) - x)``, running each op only on the images whose gate is
       above :data:`~.gates.GATE_SKIP`;
    4. geometric ops: ``'blend'`` treats each warp like a color op; ``'compose'`` builds one
       forward affine per image, ``A = I + sum_k b_k (H_k - I)`` (pixel coordinates), and warps
       the color-blended image once with it (exposed as :attr:`last_affine`) and moves the
       data samples' boxes, instance masks and label maps with it
       (:mod:`tst_mm.augment.label_geometry`);
    5. clamps, renormalises, and restores padding to its input values exactly.

    Mixing ops (``'mixup'``, ``'cutmix'``; :mod:`tst_mm.augment.mixing`), which only
    classification takes and which are never in the default pool, are blended like color ops
    with each image's partner in a permutation of the batch drawn once per call (exposed as
    :attr:`last_partners`). A pool with a mixing op returns copies of the data samples whose
    ``gt_score`` is the mixed target, ``(1 - s) t_i + s t_partner`` with the partner's share
    ``s`` of the augmented image (:attr:`last_partner_shares`), on every call (``s = 0`` where
    no mixing op applied); ``gt_label`` stays the label of the image mixed into, so the search
    objectives (which take hard labels) score ``x'`` against it.

    Only each image's valid region (``metainfo['img_shape']``, top-left, as mm preprocessors pad
    bottom/right) is looked at: image statistics ignore padding and pixels warped in from
    outside the image read ``fill``.

    Args:
        ops: Names of the ops in the pool (see :mod:`tst_mm.augment.ops`); ``None`` means
            all 14, or the policy's ops when ``policy`` is given.
        num_ops: Ops drawn per batch; ``None`` (or at least the pool size) applies all.
        temperature: Temperature of the relaxed-Bernoulli gates.
        geometric_mode: ``'blend'`` (classification) or ``'compose'`` (detection/segmentation).
        mean: Per-channel mean of the normalisation (0-255 scale, as in mm data
            preprocessors); ``None`` means inputs are already in ``[0, 1]``.
        std: Per-channel std (0-255 scale); ``None`` with ``mean=None``.
        init_magnitude_logit: Initial value of every magnitude logit.
        init_probability_logit: Initial value of every probability logit.
        policy: A policy dict or JSON path (see :meth:`policy`) whose values override the
            initial logits.
        trainable: If ``False``, the logits are frozen (``requires_grad=False``): a fixed
            augmentation usable as a plain batch augment.
        fill: Value (in ``[0, 1]``) of pixels warped in from outside the image.
        op_impl: ``'exact'`` (analytic ops) or ``'learned'`` (pretrained op-imitation CNNs for
            the color ops with a learnable magnitude; geometric ops stay exact affine warps).
        learned_ops_ckpt: Checkpoint of the op-imitation CNNs, written by
            ``tools/pretrain_ops.py``; required with ``op_impl='learned'``.
        min_box_size: ``'compose'`` mode: warped boxes narrower or lower than this (pixels,
            after clipping to the image) are dropped with their labels and masks (default
            1.0).
        min_box_visible: ``'compose'`` mode: warped boxes keeping less than this fraction of
            their area inside the image are dropped likewise (default 0.1).
        seg_ignore_index: ``'compose'`` mode: label-map value of pixels warped in from outside
            the image (and of the padding). In a ``tst_mm.TSTDistiller`` the segmentation
            task sets it (its student's decode-head ``ignore_index``; :meth:`follow_task`),
            so it need not be given; one that contradicts the task's is refused (default 255).
            These three are the label rules (:mod:`tst_mm.augment.label_rules`): ``None``
            leaves a rule to the task, else to its default.
        num_classes: Width of the mixed targets (``gt_score``) the mixing ops write;
            ``tst_mm.TSTDistiller`` sets it from the student's head (:meth:`set_num_classes`).
            Unused without mixing ops.
        signs: Direction of the signed ops (brightness, color, contrast, sharpness, rotate,
            shear, translate): ``'random'`` draws a sign per op and batch, so a magnitude
            covers both directions (darker and brighter, left and right); ``'positive'``
            always takes the positive one (brighter, more contrast, one rotation / shear /
            translation direction), as the authors' code does. With ``'positive'`` the
            search learns one direction per op; with ``'random'`` it learns a strength that
            holds for both.
        learn_x_prime_weight: Learn a weight of ``x'`` in the distillation losses
            (:meth:`x_prime_weight`; classification), which a search objective can turn
            down to fall back to plain KD.
        init_x_prime_weight: Its initial value, in ``[0, 2)`` (default 1: ``x'`` and ``x``
            weigh alike). 0 (a weight of 2e-13, as the logit stays finite) leaves ``x'`` out
            of the losses, though it still passes through the student with ``x`` (its batch
            statistics): a control for what ``x'`` does at weight 0.
        init_cfg: mmengine initialisation config.

    Attributes:
        magnitude_logits: ``(M,)`` logits of the learnable-magnitude ops, in
            :attr:`magnitude_op_names` order; magnitude ``m = sigmoid(logit)``.
        probability_logits: ``(K,)`` logits of all ops, in :attr:`op_names` order; probability
            ``p = sigmoid(logit)``.
        x_prime_weight_logit: With ``learn_x_prime_weight``, the 0-dim logit of
            :meth:`x_prime_weight` (absent otherwise, so checkpoints keep their keys).
        last_affine: In ``'compose'`` mode, the last batch's ``(B, 2, 3)`` forward affine
            matrices (detached) in pixel coordinates of the padded batch: a point ``(x, y)`` of
            the input image moves to ``A @ (x, y, 1)``. ``None`` in ``'blend'`` mode or before
            the first call.
        last_ops: Names of the ops drawn for the last batch.
        last_signs: The signs (``+1.0`` / ``-1.0``) the last batch's ops were applied with.
        last_gates: The last batch's ``(B, len(last_ops))`` gates (detached).
        last_partners: ``(B,)`` partner of each image of the last batch when a mixing op was
            drawn for it, else ``None``.
        last_partner_shares: ``(B,)`` share of the partner in each augmented image of the
            last batch (detached; zeros when nothing was mixed), or ``None`` for a pool
            without mixing ops.
    """

    def __init__(self,
                 ops: Optional[Sequence[str]] = None,
                 num_ops: Optional[int] = 4,
                 temperature: float = 0.05,
                 geometric_mode: str = 'blend',
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 init_magnitude_logit: float = 0.0,
                 init_probability_logit: float = 0.0,
                 policy: Optional[Union[Policy, str, os.PathLike]] = None,
                 trainable: bool = True,
                 fill: float = 0.0,
                 op_impl: str = 'exact',
                 learned_ops_ckpt: Optional[str] = None,
                 min_box_size: Optional[float] = None,
                 min_box_visible: Optional[float] = None,
                 seg_ignore_index: Optional[int] = None,
                 num_classes: Optional[int] = None,
                 signs: str = 'random',
                 learn_x_prime_weight: bool = False,
                 init_x_prime_weight: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        _check_settings(signs=signs, geometric_mode=geometric_mode, op_impl=op_impl,
                        temperature=temperature, num_ops=num_ops,
                        learn_x_prime_weight=learn_x_prime_weight,
                        init_x_prime_weight=init_x_prime_weight)
        self.signs = signs
        if policy is not None:
            policy = load_policy(policy)
            if ops is None:
                ops = list(policy)
        self._ops: List[AugmentOp] = resolve_ops(ops)
        self.op_names: List[str] = [s.name for s in self._ops]
        self.magnitude_op_names: List[str] = [s.name for s in self._ops if s.learnable_magnitude]
        self._magnitude_index: Dict[str, int] = {
            n: i for i, n in enumerate(self.magnitude_op_names)}
        self.num_ops = num_ops
        self.temperature = float(temperature)
        self.geometric_mode = geometric_mode
        self.fill = float(fill)
        self.op_impl = op_impl
        self._init_label_rules(min_box_size=min_box_size, min_box_visible=min_box_visible,
                               seg_ignore_index=seg_ignore_index)
        self.num_classes: Optional[int] = None
        self.set_num_classes(num_classes)

        self.magnitude_logits = nn.Parameter(
            torch.full((len(self.magnitude_op_names), ), float(init_magnitude_logit)))
        self.probability_logits = nn.Parameter(
            torch.full((len(self.op_names), ), float(init_probability_logit)))
        if learn_x_prime_weight:  # weight = 2 sigmoid(logit); a weight of 1 is logit 0
            self.x_prime_weight_logit = nn.Parameter(
                torch.logit(torch.tensor(init_x_prime_weight / 2.0)).clamp(min=-30.0))
        self.register_buffer('mean', None, persistent=False)
        self.register_buffer('std', None, persistent=False)
        self.set_normalization(mean, std)

        self.learned_ops: Optional[nn.Module] = None
        if op_impl == 'learned':
            from .learned_ops import load_learned_ops
            names = [s.name for s in self._ops if s.kind == COLOR]
            self.learned_ops = load_learned_ops(learned_ops_ckpt, names)

        if policy is not None:
            self.load_policy(policy)
        self.trainable = bool(trainable)
        if not self.trainable:
            for param in self.parameters(recurse=False):
                param.requires_grad_(False)

        self.last_affine: Optional[Tensor] = None
        self.last_ops: List[str] = []
        self.last_signs: List[float] = []
        self.last_gates: Optional[Tensor] = None
        self.last_partners: Optional[Tensor] = None
        self.last_partner_shares: Optional[Tensor] = None

    @property
    def mixes(self) -> bool:
        """Whether the pool has mixing ops (which write mixed targets as ``gt_score``)."""
        return any(op.kind == MIX for op in self._ops)

    def set_num_classes(self, num_classes: Optional[int]) -> None:
        """Set the width of the mixed targets the mixing ops write.

        Raises:
            ConfigError: If ``num_classes`` is not a positive integer (or ``None``).
        """
        if num_classes is not None and (isinstance(num_classes, bool) or
                                        not isinstance(num_classes, int) or num_classes < 1):
            raise ConfigError(f'num_classes must be a positive integer, got {num_classes!r}.')
        self.num_classes = num_classes

    # ------------------------------------------------------------------ normalisation
    def _init_label_rules(self, **settings: Optional[float]) -> None:
        """The label rules from this augmenter's settings (``None``: the default, until the
        task says otherwise in :meth:`follow_task`)."""
        box_size, visible = settings['min_box_size'], settings['min_box_visible']
        if (box_size is not None and box_size < 0) or \
                (visible is not None and not 0.0 <= visible <= 1.0):
            raise ConfigError(f'min_box_size must be >= 0 and min_box_visible in [0, 1], got '
                              f'{box_size} and {visible}.')
        #: The label rules this augmenter's config sets (the others are the task's).
        self._label_settings = {name: value for name, value in settings.items()
                                if value is not None}
        for name, default in LABEL_RULE_DEFAULTS.items():
            setattr(self, name, type(default)(self._label_settings.get(name, default)))

    def follow_task(self, adapter: Any) -> None:
        """Take the label rules of the task from its adapter (``adapter.label_rules()``,
        name -> :class:`~.label_rules.LabelRule`); ``tst_mm.TSTDistiller`` calls it at build.

        Raises:
            ConfigError: If a setting of this augmenter's config contradicts a rule of the
                task.
        """
        for name, rule in adapter.label_rules().items():
            mine = self._label_settings.get(name)
            if mine is not None and mine != rule.value:
                raise ConfigError(f'the augmenter {LABEL_RULE_MEANINGS[name]} {name}={mine} but '
                                  f'{rule.reason}; set augmenter {name}={rule.value} or drop '
                                  'the setting')
            setattr(self, name, type(LABEL_RULE_DEFAULTS[name])(rule.value))

    def set_normalization(self, mean: Optional[Sequence[float]],
                          std: Optional[Sequence[float]]) -> None:
        """Set the normalisation the inputs carry (e.g. copied from a data preprocessor).

        Args:
            mean: Per-channel mean in the 0-255 scale, or ``None`` for inputs in ``[0, 1]``.
            std: Per-channel std in the 0-255 scale, or ``None`` together with ``mean``.

        Raises:
            ConfigError: If only one of them is given, their lengths differ, or a std is 0.
        """
        self.mean, self.std = normalization_tensors(mean, std, self.probability_logits.device)

    def to_unit(self, x: Tensor) -> Tensor:
        """Normalised inputs -> pixels in ``[0, 1]`` (what the ops work on)."""
        return normalized_to_unit(x, self.mean, self.std)

    def from_unit(self, x: Tensor) -> Tensor:
        """Pixels in ``[0, 1]`` -> normalised inputs."""
        return unit_to_normalized(x, self.mean, self.std)

    # ------------------------------------------------------------------ policy
    def magnitudes(self) -> Tensor:
        """``(M,)`` magnitudes ``sigmoid(magnitude_logits)`` (with gradient)."""
        return torch.sigmoid(self.magnitude_logits)

    def probabilities(self) -> Tensor:
        """``(K,)`` probabilities ``sigmoid(probability_logits)`` (with gradient)."""
        return torch.sigmoid(self.probability_logits)

    def x_prime_weight(self) -> Optional[Tensor]:
        """The learned weight of ``x'`` in the distillation losses, ``2 sigmoid(logit)`` (with
        gradient), or ``None`` without ``learn_x_prime_weight``."""
        logit = getattr(self, 'x_prime_weight_logit', None)
        return None if logit is None else 2.0 * torch.sigmoid(logit)

    def policy(self) -> Policy:
        """Return the current policy.

        Returns:
            ``{op_name: {'magnitude': float | None, 'probability': float}}`` for every op of
            the pool; ``magnitude`` is ``None`` for ops without a learnable magnitude.
        """
        mags = self.magnitudes().detach().cpu().tolist()
        probs = self.probabilities().detach().cpu().tolist()
        out: Policy = {}
        for i, name in enumerate(self.op_names):
            j = self._magnitude_index.get(name)
            out[name] = {
                'magnitude': None if j is None else float(mags[j]),
                'probability': float(probs[i])
            }
        return out

    def save_policy(self, path: Union[str, os.PathLike]) -> None:
        """Write :meth:`policy` to ``path`` as JSON."""
        save_policy(self.policy(), path)

    @torch.no_grad()
    def load_policy(self, policy: Union[Policy, str, os.PathLike]) -> None:
        """Set the logits from a policy (inverse sigmoid of values clamped to ``[1e-6, 1-1e-6]``).

        Ops of the pool missing from the policy keep their logits; a magnitude given for an op
        without a learnable magnitude must be ``None``.

        Args:
            policy: Policy dict or JSON path.

        Raises:
            ValueError: If the policy names an op that is not in this augmenter's pool.
        """
        policy = load_policy(policy)
        unknown = [n for n in policy if n not in self.op_names]
        if unknown:
            raise ConfigError(f'Policy ops {unknown} are not in this augmenter\'s pool '
                              f'{self.op_names} (all valid names: {OP_NAMES}).')
        for name, entry in policy.items():
            self.probability_logits[self.op_names.index(name)] = inverse_sigmoid(
                entry['probability'])
            magnitude = entry.get('magnitude')
            j = self._magnitude_index.get(name)
            if j is not None and magnitude is not None:
                self.magnitude_logits[j] = inverse_sigmoid(magnitude)

    def check_labels_can_follow(self) -> None:
        """Refuse to blend geometric ops, which boxes, masks and label maps cannot follow.

        The one place this rule is checked: by :meth:`forward` on samples that carry such
        labels, and at build time by the task adapters whose labels move with the pixels.

        Raises:
            ConfigError: With mixing ops in the pool (they cannot mix such labels), or in
                ``'blend'`` mode with geometric ops in the pool.
        """
        mixing = [s.name for s in self._ops if s.kind == MIX]
        if mixing:
            raise ConfigError(f'the mixing ops {mixing} are classification-only (they cannot '
                              'mix boxes, masks or label maps); leave them out of the '
                              "augmenter's ops for detection and segmentation")
        geometric = [s.name for s in self._ops if s.kind == GEOMETRIC]
        if self.geometric_mode == 'blend' and geometric:
            raise ConfigError(
                f"geometric_mode='blend' cannot move boxes, masks or label maps with the "
                f"geometric ops {geometric}: set geometric_mode='compose' in the augmenter "
                'config for detection and segmentation (or leave the geometric ops out).')

    # ------------------------------------------------------------------ forward
    def _draw(self, batch: int, dtype: torch.dtype) -> _DrawnOps:
        """This batch's ops (one subset for the batch), their signs and gates, drawn with
        torch's RNG in that order."""
        n = len(self._ops)
        if self.num_ops is None or self.num_ops >= n:
            drawn = list(range(n))
        else:
            drawn = sorted(torch.randperm(n)[:self.num_ops].tolist())
        ops = [self._ops[i] for i in drawn]
        signs = [1.0] * len(ops)
        if self.signs == 'random':
            drawn_signs = (torch.randint(0, 2, (len(ops), )) * 2 - 1).tolist()
            signs = [float(s) if op.signed else 1.0 for s, op in zip(drawn_signs, ops)]
        logits = torch.stack([self.probability_logits[i] for i in drawn]).to(dtype)
        return _DrawnOps(ops, signs, relaxed_bernoulli(logits, batch, self.temperature))

    def _op_value(self, op: AugmentOp, sign: float, like: Tensor) -> Tensor:
        """The op's parameter value (0-dim, on ``like``'s device and dtype)."""
        j = self._magnitude_index.get(op.name)
        if j is None:
            return torch.full((), op.low, device=like.device, dtype=like.dtype)
        magnitude = torch.sigmoid(self.magnitude_logits[j]).to(like.dtype)
        return sign * (op.low + (op.high - op.low) * magnitude)

    def _pixel_op(self, op: AugmentOp, img: Tensor, value: Tensor, sign: float,
                  region: ValidRegion) -> Tensor:
        """Apply a color or fixed op, exactly or through its op-imitation network."""
        if self.learned_ops is not None and op.kind == COLOR:
            magnitude = torch.sigmoid(self.magnitude_logits[self._magnitude_index[op.name]])
            signed = magnitude.to(img.dtype) * sign
            return self.learned_ops(op.name, img, signed, region)
        return op.apply(img, value, region)

    def _blend_op(self, out: Tensor, img: Tensor, op: AugmentOp, value: Tensor, sign: float,
                  gate: Tensor, region: ValidRegion) -> Tensor:
        """Add one op's gated change, ``out + gate * (op(img) - img)``, to ``out``, running the
        op only on the images whose gate is open (:func:`~.gates.open_gates`)."""
        active = open_gates(gate)
        if active.numel() == 0:
            return out
        if active.numel() < gate.numel():
            img, gate, region = img[active], gate[active], region.select(active)
        if op.kind == GEOMETRIC:
            changed = warp_affine(img, op.apply(value, region.sizes), self.fill)
        else:
            assert op.kind in (COLOR, FIXED)
            changed = self._pixel_op(op, img, value, sign, region)
        return add_gated_change(out, active, gate, img, changed)

    def _blend_mix_op(self, out: Tensor, img: Tensor, op: AugmentOp, value: Tensor,
                      gate: Tensor, region: ValidRegion, partners: Tensor,
                      shares: Tensor) -> Tensor:
        """Add one mixing op's gated change to ``out`` and its gated partner shares to
        ``shares`` (in place), on the images whose gate is open."""
        active = open_gates(gate)
        if active.numel() == 0:
            return out
        partner = img[partners]
        if active.numel() < gate.numel():
            img, partner, gate = img[active], partner[active], gate[active]
            region = region.select(active)
        changed, share = op.apply(img, partner, value, region)
        shares.index_add_(0, active, gate.detach() * share.detach())
        return add_gated_change(out, active, gate, img, changed)

    def _blend(self, img: Tensor, drawn: _DrawnOps, region: ValidRegion) -> _Blended:
        """Blend the drawn color, fixed and mixing ops (and, in ``'blend'`` mode, the
        geometric ones) into ``img``; in ``'compose'`` mode collect the geometric ops'
        gated forward maps instead."""
        batch = img.shape[0]
        partners, shares = None, None
        if self.mixes:  # never reached by a pool without mixing ops
            shares = img.new_zeros(batch)
            if any(op.kind == MIX for op in drawn.ops):
                partners = draw_partners(batch, img.device)
        out = img
        warps: List[Tuple[Tensor, Tensor]] = []
        for k, (op, sign) in enumerate(zip(drawn.ops, drawn.signs)):
            value = self._op_value(op, sign, img)
            gate = drawn.gates[:, k]
            if op.kind == MIX:
                out = self._blend_mix_op(out, img, op, value, gate, region, partners, shares)
            elif op.kind == GEOMETRIC and self.geometric_mode == 'compose':
                warps.append((gate, op.apply(value, region.sizes)))
            else:
                out = self._blend_op(out, img, op, value, sign, gate, region)
        return _Blended(out.clamp(0.0, 1.0), warps, partners, shares)

    def _compose_warps(self, blended: _Blended, region: ValidRegion,
                       data_samples: Optional[list]) -> Tuple[Tensor, Optional[list]]:
        """``'compose'`` mode: warp the blended images once with ``A = I + sum_k b_k (H_k -
        I)`` (kept as :attr:`last_affine`) and move the samples' labels with it."""
        out = blended.out
        if self.geometric_mode != 'compose':
            self.last_affine = None
            return out, data_samples
        eye = torch.eye(3, device=out.device, dtype=out.dtype)
        affine = eye.expand(out.shape[0], 3, 3)
        for gate, forward_map in blended.warps:
            affine = affine + gate.view(-1, 1, 1) * (forward_map - eye)
        if blended.warps:
            if region.mask is not None:
                out = torch.where(region.mask > 0, out, self.fill)
            out = warp_affine(out, affine, self.fill).clamp(0.0, 1.0)
        self.last_affine = affine[:, :2].detach()
        if blended.warps:
            data_samples = apply_label_geometry(
                data_samples, self.last_affine, self.min_box_size, self.min_box_visible,
                self.seg_ignore_index)
        return out, data_samples

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None) -> Tuple[Tensor, Optional[list]]:
        """Augment a normalised, padded batch.

        Args:
            inputs: ``(B, C, H, W)`` normalised batch.
            data_samples: The batch's data samples (their ``img_shape`` metainfo gives the
                valid region) or ``None``. Never modified.

        Returns:
            The augmented batch (same shape, dtype and normalisation) and the data samples:
            in ``'blend'`` mode the given ones; in ``'compose'`` mode a new list in which the
            samples whose image moved are copies with their boxes, instance masks and label
            maps warped by :attr:`last_affine`; with mixing ops in the pool, copies carrying
            the mixed targets as ``gt_score``.

        Raises:
            ValueError: In ``'blend'`` mode with geometric ops in the pool, if the samples
                carry boxes, masks or label maps (they cannot follow a blended warp), and
                (``ConfigError``) with mixing ops in the pool if they do.
        """
        if inputs.dim() != 4:
            raise ValueError(f'Expected a (B, C, H, W) batch, got shape {tuple(inputs.shape)}.')
        if data_samples is not None and any(has_spatial_labels(s) for s in data_samples):
            self.check_labels_can_follow()
        work_dtype = inputs.dtype if inputs.dtype in (torch.float32, torch.float64) \
            else torch.float32
        region = ValidRegion.from_data_samples(inputs.to(work_dtype), data_samples)
        img = self.to_unit(inputs.to(work_dtype))
        if region.mask is not None:
            img = torch.where(region.mask > 0, img, self.fill)

        drawn = self._draw(inputs.shape[0], work_dtype)
        blended = self._blend(img, drawn, region)
        out, data_samples = self._compose_warps(blended, region, data_samples)
        self.last_ops = [s.name for s in drawn.ops]
        self.last_signs = drawn.signs
        self.last_gates = drawn.gates.detach()
        self.last_partners = blended.partners
        self.last_partner_shares = None if blended.shares is None \
            else blended.shares.clamp(0.0, 1.0)
        if blended.shares is not None and data_samples is not None:
            data_samples = mix_scores(data_samples, blended.partners, self.last_partner_shares,
                                      self.num_classes)

        out = self.from_unit(out)
        if region.mask is not None:
            out = torch.where(region.mask > 0, out, inputs.to(work_dtype))
        return out.to(inputs.dtype), data_samples

    def extra_repr(self) -> str:
        return (f'ops={self.op_names}, num_ops={self.num_ops}, temperature={self.temperature}, '
                f'geometric_mode={self.geometric_mode!r}, op_impl={self.op_impl!r}, '
                f'signs={self.signs!r}, trainable={self.trainable}')
