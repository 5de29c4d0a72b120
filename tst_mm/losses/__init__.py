"""Losses of tst-mm: logit distillation, feature distillation and TST's search objective.

Every loss is registered in :data:`tst_mm.registry.MODELS`, so configs build them with
``dict(type='tst_mm.KDLoss', ...)``. All take ``loss_weight``, detach teacher inputs, and compute
in float32 (safe under fp16 autocast).
"""
from .cwd_loss import ChannelWiseDivergenceLoss
from .dist_loss import DISTLoss
from .dkd_loss import DKDLoss
from .feature_mse_loss import FeatureMSELoss
from .inverted_detection_losses import InvertedDetectionLosses  # noqa: F401 (see below)
from .kd_loss import KDLoss
from .student_weakness_loss import StudentWeaknessLoss

__all__ = [
    'KDLoss', 'DKDLoss', 'DISTLoss', 'StudentWeaknessLoss', 'FeatureMSELoss',
    'ChannelWiseDivergenceLoss'
]
# InvertedDetectionLosses (registered as tst_mm.InvertedDetectionLosses) is the detection search
# objective's wrapper, not one of the losses above: it takes no loss_weight and swaps the
# student's own loss modules (tst_mm.losses.inverted_detection_losses).
