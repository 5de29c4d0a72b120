"""Save pictures of original vs augmented samples at each search phase."""
import copy
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils.unwrap import unwrap_model
from ..first_batch import first_batch

__all__ = ['TSTSampleGridHook']


@HOOKS.register_module()
class TSTSampleGridHook(Hook):
    """Write a PNG grid (top: originals, bottom: augmented) before training and after each
    search phase, to ``<work_dir>/tst_samples/`` and the runner's visualizer.

    The same first training samples are used every time, so pictures of successive phases show
    how the learned policy changes what the student sees.

    Args:
        num_samples: Images per row.
        min_size: Images narrower than this are enlarged (nearest, whole factors) so that
            28-pixel digits and garments can be seen.
    """

    priority = 'LOW'

    def __init__(self, num_samples: int = 8, min_size: int = 96) -> None:
        self.num_samples = num_samples
        self.min_size = min_size
        self._batch: Optional[dict] = None

    def before_train(self, runner) -> None:
        if self._batch is None:
            # Straight from the dataset (an abandoned dataloader iterator would close the
            # shared index stream of an InfiniteSampler, iteration-based configs), through
            # copies of its pipelines (CachedMosaic's image cache stays as it was)
            self._batch = first_batch(runner.train_dataloader, self.num_samples)
        self._save(runner, 'before_training')

    def after_search_phase(self, runner, epoch: Optional[int] = None,
                           iter: Optional[int] = None) -> None:
        if iter is not None:  # tst_mm.TSTIterBasedTrainLoop
            self._save(runner, f'after_search_at_iter_{iter}')
        else:
            self._save(runner, f'after_search_before_epoch_{epoch + 1}')

    @torch.no_grad()
    def _save(self, runner, name: str) -> None:
        model = unwrap_model(runner.model)
        augmenter = getattr(model, 'augmenter', None)
        if augmenter is None or not is_main_process():
            return
        data = model.data_preprocessor(copy.deepcopy(self._batch), False)
        inputs = data['inputs'][:self.num_samples]
        samples = data['data_samples'][:self.num_samples]
        augmented, _ = augmenter(inputs, copy.deepcopy(samples))
        pixels = torch.cat([self._to_pixels(augmenter, inputs),
                            self._to_pixels(augmenter, augmented)])
        scale = max(1, -(-self.min_size // pixels.shape[-1]))  # small images are enlarged
        if scale > 1:
            pixels = F.interpolate(pixels, scale_factor=scale, mode='nearest')
        from torchvision.utils import make_grid  # only here: importing tst_mm needs no torchvision
        grid = make_grid(pixels, nrow=inputs.size(0), padding=2, pad_value=1.0)
        image = (grid.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        out_dir = osp.join(runner.work_dir, 'tst_samples')
        os.makedirs(out_dir, exist_ok=True)
        path = osp.join(out_dir, f'{name}.png')
        from PIL import Image
        Image.fromarray(image).save(path)
        runner.visualizer.add_image(f'tst_samples/{name}', image, step=runner.epoch)
        runner.logger.info(f'TST sample grid saved to {path}')

    @staticmethod
    def _to_pixels(augmenter, inputs: torch.Tensor) -> torch.Tensor:
        """Normalised inputs -> ``[0, 1]`` pixels via the augmenter's normalisation."""
        return augmenter.to_unit(inputs.float())
