"""A copy of everything a TST training step changes, to put back later."""
import copy
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.logging.logger import FilterDuplicateWarning

from ..distill.contract import TSTDistillerContract

__all__ = ['TrainingState']


class TrainingState:
    """A copy of everything a TST training step changes, to put back later.

    The distiller's parameters (student, augmenter; the teacher's are frozen) and all its
    buffers (BN statistics, the teacher's included), its optimized parts (their counts of
    skipped steps, the augmenter's phase rules), each
    optimizer wrapper's state (momentum, AMP loss scale) and step count, the distiller's
    train mode, the python, numpy and torch (CPU and CUDA) random states, the
    runtime info of the message hub, and which warnings mmengine's loggers have already
    shown (they show each warning once: one shown during the steps would be dropped when it
    comes for real).

    Args:
        distiller: The unwrapped distiller.
        optim_wrapper: The runner's ``OptimWrapperDict``.
        message_hub: The runner's message hub, if its runtime info is to be kept.
    """

    def __init__(self, distiller: TSTDistillerContract, optim_wrapper,
                 message_hub: Optional[MessageHub] = None) -> None:
        self.distiller = distiller
        self.optim_wrapper = optim_wrapper
        self.message_hub = message_hub
        tensors: List[torch.Tensor] = [*distiller.parameters(),
                                       *distiller.buffers_with_teacher()]
        self._tensors = [(tensor, tensor.detach().clone()) for tensor in tensors]
        self._wrappers = {name: (copy.deepcopy(wrapper.state_dict()),
                                 getattr(wrapper, '_inner_count', None))
                          for name, wrapper in optim_wrapper.items()}
        self._parts = copy.deepcopy(distiller.parts)
        self._training = distiller.training
        self._rng = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
                     torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None)
        self._info = dict(message_hub.runtime_info) if message_hub is not None else None
        self._seen = [(log_filter, set(log_filter.seen)) for log_filter in _warning_filters()]

    def restore(self) -> None:
        """Put everything back as it was when this was made."""
        with torch.no_grad():
            for tensor, saved in self._tensors:
                tensor.copy_(saved)
        for name, wrapper in self.optim_wrapper.items():
            state, count = self._wrappers[name]
            wrapper.load_state_dict(copy.deepcopy(state))
            wrapper.zero_grad()
            if count is not None:
                wrapper._inner_count = count
        self.distiller.parts = copy.deepcopy(self._parts)
        self.distiller.train(self._training)
        python_state, numpy_state, torch_state, cuda_states = self._rng
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        if self._info is not None:
            info = self.message_hub.runtime_info
            info.clear()
            info.update(self._info)
        for log_filter, seen in self._seen:
            log_filter.seen.clear()
            log_filter.seen.update(seen)


def _warning_filters() -> List[FilterDuplicateWarning]:
    """The duplicate-warning filters of the current mmengine logger's handlers."""
    logger = MMLogger.get_current_instance()
    return [log_filter for handler in logger.handlers for log_filter in handler.filters
            if isinstance(log_filter, FilterDuplicateWarning)]
