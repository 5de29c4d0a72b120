"""A detector's family (two-stage, single-stage, DETR) and what follows from it."""
import contextlib
from typing import Iterator, List, Optional, Tuple

from torch import nn

from ....errors import UnsupportedModelError
from .roi import roi_stages

__all__ = ['detector_family', 'classifying_head', 'loss_mode']


def detector_family(model: nn.Module) -> str:
    """``'two_stage'``, ``'single_stage'`` or ``'query'`` (DETR family);
    ``UnsupportedModelError`` for other detectors."""
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    from mmdet.models.detectors.base_detr import DetectionTransformer
    if isinstance(model, TwoStageDetector):
        roi_stages(model)  # refuses RoI heads TST cannot distil
        return 'two_stage'
    if isinstance(model, SingleStageDetector):
        return 'single_stage'
    if isinstance(model, DetectionTransformer):
        return 'query'
    raise UnsupportedModelError(f'{type(model).__name__} is neither a TwoStageDetector, a '
                                'SingleStageDetector nor a DETR-family DetectionTransformer, '
                                'which is what TST supports for detection')


def classifying_head(model: nn.Module, family: str,
                     stages: Optional[List[Tuple[nn.Module, nn.Module]]] = None) -> nn.Module:
    """The classifying head: the (last) RoI bbox head or the dense / query head."""
    if family == 'two_stage':
        return (stages or roi_stages(model))[-1][1]
    return model.bbox_head


@contextlib.contextmanager
def loss_mode(model: nn.Module, family: str) -> Iterator[None]:
    """Let an eval-mode DETR-family detector compute its training loss.

    DINO / Deformable DETR build what their loss needs (encoder proposals, denoising queries)
    only when the detector itself is in training mode. The frozen teacher and the student of
    a search step stay in eval mode (normalisation statistics, dropout): only the detector's
    own flag is set, for the call.
    """
    if model.training or family != 'query':
        yield
        return
    model.training = True
    try:
        yield
    finally:
        model.training = False
