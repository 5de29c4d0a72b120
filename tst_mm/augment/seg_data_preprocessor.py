"""mmseg's data preprocessor, plus the batch augments mmseg stores but never applies."""
from typing import Any, Dict, List, Optional

from mmseg.models.data_preprocessor import SegDataPreProcessor
from torch import nn

from tst_mm.registry import MODELS

__all__ = ['SegDataPreProcessorWithAugments']


@MODELS.register_module()
class SegDataPreProcessorWithAugments(SegDataPreProcessor):
    """``SegDataPreProcessor`` that builds and applies ``batch_augments`` in training.

    mmseg 1.x keeps ``batch_augments`` as the raw config list. This subclass builds each entry
    (e.g. a fixed ``tst_mm.LearnableAugmenter`` carrying a searched TST policy) and, in
    training only, calls them in order on the normalised, padded batch and its data samples,
    as mmdet's ``DetDataPreprocessor`` does. Augments with a ``set_normalization`` method get
    this preprocessor's mean and std when it normalises, so their color ops work in pixel
    space. Use it in a plain mmseg config::

        custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
        data_preprocessor = dict(
            type='tst_mm.SegDataPreProcessorWithAugments', mean=..., std=..., size=...,
            batch_augments=[dict(type='tst_mm.LearnableAugmenter', policy='policy.json',
                                 trainable=False, geometric_mode='compose')])

    Attributes:
        augments: The built batch augments (``batch_augments`` stays ``None`` so that mmseg's
            own forward never calls them a second time).

    Args:
        batch_augments: Configs of the batch augments (write ``type='tst_mm.X'`` for tst_mm
            modules); each takes and returns ``(inputs, data_samples)``.
        **kwargs: Passed to :class:`mmseg.models.SegDataPreProcessor`.
    """

    def __init__(self, batch_augments: Optional[List[dict]] = None, **kwargs) -> None:
        # mmseg would call the raw list; the built augments live in ``augments`` instead.
        super().__init__(batch_augments=None, **kwargs)
        self.augments = nn.ModuleList(
            [MODELS.build(cfg) if isinstance(cfg, dict) else cfg
             for cfg in batch_augments or []])
        for augment in self.augments:
            if self._enable_normalize and hasattr(augment, 'set_normalization'):
                augment.set_normalization(self.mean.flatten().tolist(),
                                          self.std.flatten().tolist())

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Normalise, pad and stack as mmseg does; then apply the batch augments in training.

        Args:
            data: A batch from the dataloader.
            training: Whether this is a training forward.

        Returns:
            ``dict(inputs=..., data_samples=...)``.
        """
        data = super().forward(data, training)
        if training and len(self.augments):
            inputs, data_samples = data['inputs'], data['data_samples']
            for augment in self.augments:
                inputs, data_samples = augment(inputs, data_samples)
            data = dict(inputs=inputs, data_samples=data_samples)
        return data
