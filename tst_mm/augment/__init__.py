"""The learnable, differentiable augmenter of TST and its ops.

``LearnableAugmenter`` is registered as ``tst_mm.LearnableAugmenter``; the op pool and its
ranges live in :mod:`tst_mm.augment.ops` (registry ``tst_mm.registry.AUGMENT_OPS``).
"""
from ..utils.optional_imports import optional_module_missing
from .augmenter import LearnableAugmenter
from .gates import relaxed_bernoulli
from .geometry import warp_affine
from .learned_ops import LearnedOps, OpImitationNet
from .ops import COLOR, FIXED, GEOMETRIC, MIX, OP_NAMES, AugmentOp, build_op, resolve_ops
from .policy_io import load_policy, save_policy
from .region import ValidRegion

try:  # mmseg needs mmcv's compiled ops; a classification-only environment may lack them
    from .seg_data_preprocessor import SegDataPreProcessorWithAugments
except ImportError as err:
    if not optional_module_missing(err):
        raise
    SegDataPreProcessorWithAugments = None

__all__ = [
    'LearnableAugmenter', 'AugmentOp', 'COLOR', 'GEOMETRIC', 'FIXED', 'MIX', 'OP_NAMES',
    'build_op',
    'resolve_ops', 'relaxed_bernoulli',
    'warp_affine', 'load_policy', 'save_policy', 'ValidRegion', 'LearnedOps',
    'OpImitationNet', 'SegDataPreProcessorWithAugments'
]
