"""A sampler that puts several independently augmented views of each image in one batch."""
from typing import Iterator, Optional, Sized

from mmengine.dataset import DefaultSampler

from ..errors import ConfigError
from ..registry import DATA_SAMPLERS

__all__ = ['RepeatedViewsSampler']


@DATA_SAMPLERS.register_module()
class RepeatedViewsSampler(DefaultSampler):
    """``DefaultSampler`` order with each index repeated ``num_views`` times in a row.

    Every repetition goes through the dataset's pipeline on its own, so with random transforms
    (crop, flip, ...) a batch of ``num_views * B`` holds ``num_views`` independent views of
    ``B`` images. With the batch size multiplied by ``num_views`` an epoch has as many
    iterations as with the plain sampler. The equal-images control of the TST studies: KD on
    two crop/flip views per image sees as many images per step as TST's ``[x'; x]``.

    Args:
        dataset: The dataset.
        num_views: Views per image, >= 1.
        shuffle, seed, round_up: As ``mmengine.dataset.DefaultSampler`` (ranks get disjoint
            images; each rank repeats its own).
    """

    def __init__(self, dataset: Sized, num_views: int = 2, shuffle: bool = True,
                 seed: Optional[int] = None, round_up: bool = True) -> None:
        if num_views < 1:
            raise ConfigError(f'num_views must be >= 1, got {num_views}')
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self.num_views = int(num_views)

    def __iter__(self) -> Iterator[int]:
        for index in super().__iter__():
            for _ in range(self.num_views):
                yield index

    def __len__(self) -> int:
        return self.num_views * super().__len__()
