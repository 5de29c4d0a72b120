"""The student's losses under other parameters, for search objectives that look a step ahead."""
from typing import Callable, Dict, List, Mapping, Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..search_objectives import VirtualStep
from .task_adapters import TaskAdapter
from .task_adapters.base import total_task_loss

__all__ = ['build_virtual_step']


class _Apply(nn.Module):
    """Holds the student and calls a function, so that ``functional_call`` can swap the
    student's tensors for any code that reads them (the adapter bound to it, not only the
    student's ``forward``)."""

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.student = student

    def forward(self, fn: Callable[[], Tensor]) -> Tensor:
        return fn()


class _RandomState:
    """The global random state (CPU and the current CUDA device) at one moment, restored
    before each evaluation so that every one draws the same samples (RoI sampling, dropout)."""

    def __init__(self, device: torch.device) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == 'cuda' else None
        self.device = device

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


def build_virtual_step(student: nn.Module, teacher: nn.Module, adapter: TaskAdapter,
                       distill_losses: Mapping[str, nn.Module], params: Dict[str, Tensor],
                       lr: float,
                       aug_inputs: Tensor, aug_samples: List, inputs: Tensor, samples: List,
                       heldout_inputs: Tensor, heldout_samples: List,
                       teacher_correct_only: bool = False,
                       x_prime_weight: Optional[Tensor] = None) -> VirtualStep:
    """A :class:`~tst_mm.search_objectives.VirtualStep` over one search batch.

    The losses are the task adapter's distillation losses, summed as a distillation step sums
    them: on ``[x'; x]`` (``aug_inputs`` then ``inputs``; the teacher with gradients to
    ``x'``, ``x_prime_weight`` live, so the policy's parameters get gradients through both)
    and on the held-out clean batch. Each evaluation runs the student in train mode on copies
    of its buffers, with the random state the first one started from, and leaves the student
    as it was.

    Args:
        student, teacher: The two models.
        adapter: The task adapter (bound to ``student``).
        distill_losses: The KD losses by name.
        params: The student's trainable parameters by name (the ones its optimizer steps).
        lr: The virtual SGD step's learning rate.
        aug_inputs, aug_samples: ``x'`` and its data samples.
        inputs, samples: ``x`` and its data samples.
        heldout_inputs, heldout_samples: The held-out clean batch.
        teacher_correct_only: As the distiller's setting.
        x_prime_weight: The weight of ``x'`` in the distillation losses, if learned.
    """
    if adapter.student is not student:
        raise ValueError('build_virtual_step: the adapter is bound to another student')
    train_batch = torch.cat([aug_inputs, inputs])
    train_samples = list(aug_samples) + list(samples)
    num_augmented = aug_inputs.size(0)
    random_state = _RandomState(train_batch.device)
    apply = _Apply(student)

    def loss_at(params: Dict[str, Tensor], batch: Tensor, batch_samples: List,
                num_aug: int, weight: Optional[Tensor]) -> Tensor:
        tensors = {f'student.{name}': buffer.clone() for name, buffer in student.named_buffers()}
        tensors.update({f'student.{name}': value for name, value in params.items()})
        was_training = student.training
        student.train()
        random_state.restore()
        try:
            losses = functional_call(apply, tensors, (lambda: adapter.distill_losses(
                teacher, batch, batch_samples, distill_losses, num_augmented=num_aug,
                teacher_correct_only=teacher_correct_only, teacher_grad=num_aug > 0,
                x_prime_weight=weight),), strict=False)
        finally:
            student.train(was_training)
        return total_task_loss(losses, 'student')

    return VirtualStep(
        params={name: param.detach() for name, param in params.items()}, lr=float(lr),
        train_loss=lambda params: loss_at(params, train_batch, train_samples, num_augmented,
                                          x_prime_weight),
        heldout_loss=lambda params: loss_at(params, heldout_inputs, list(heldout_samples), 0,
                                            None))

