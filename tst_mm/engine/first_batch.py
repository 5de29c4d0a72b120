"""The first training batch, drawn without touching the loader, its sampler or the dataset."""
import copy
from typing import Any, List, Optional

from torch.utils.data import DataLoader

__all__ = ['first_batch']


def _pipeline_owners(dataset) -> List[Any]:
    """The dataset and the datasets it wraps (``ConcatDataset``, ``RepeatDataset``,
    ``MultiImageMixDataset``, ...) that hold a ``pipeline``."""
    owners, todo = [], [dataset]
    while todo:
        current = todo.pop()
        if hasattr(current, 'pipeline'):
            owners.append(current)
        todo.extend(getattr(current, 'datasets', None) or [])
        if getattr(current, 'dataset', None) is not None:
            todo.append(current.dataset)
    return owners


def first_batch(dataloader: DataLoader, num: Optional[int] = None) -> Any:
    """A batch of the first ``num`` images of the dataset (default: a batch's worth), collated
    as the loader does, leaving no trace in the dataset.

    Neither the loader nor its sampler is iterated: that would start (persistent) workers or
    draw from the shared generator of an infinite sampler and shift the run's data order. The
    samples go through copies of the dataset's pipelines, so that stateful transforms (the
    image caches of mmdet's ``CachedMosaic`` / ``CachedMixUp``) are as they were; the global
    random state is the caller's to keep.
    """
    if num is None:
        batch_sampler = getattr(dataloader, 'batch_sampler', None)
        num = getattr(batch_sampler, 'batch_size', None) or dataloader.batch_size or 1
    dataset = dataloader.dataset
    owners = _pipeline_owners(dataset)
    pipelines = [owner.pipeline for owner in owners]
    try:
        for owner, pipeline in zip(owners, pipelines):
            owner.pipeline = copy.deepcopy(pipeline)
        samples = [dataset[index] for index in range(min(num, len(dataset)))]
    finally:
        for owner, pipeline in zip(owners, pipelines):
            owner.pipeline = pipeline
    return dataloader.collate_fn(samples)
