"""The frozen teacher's lifecycle: checked at once, built at first use, loaded once, never saved."""
import copy
from itertools import chain
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.distributed as dist
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import MODELS
from .model_config import resolve_model_config
from .model_skeleton import build_skeleton
from .teacher_loading import TeacherCheckpointError, freeze, load_teacher_checkpoint

__all__ = ['FrozenTeacher', 'TEACHER', 'without_teacher']

#: The teacher's name as a submodule of its distiller (and the prefix of its keys).
TEACHER = 'teacher'


class FrozenTeacher:
    """Everything about a distiller's teacher but its use: config, build, load, modes, SyncBN.

    The teacher is a submodule of its distiller (the *host*), named :data:`TEACHER`, so that
    moving the host to a device, wrapping it for several processes or converting its norm
    layers reaches it. It exists only once training uses it (:meth:`get`): its config is
    checked at once on a skeleton without weights (:meth:`skeleton`), building it draws
    nothing from the global random stream, and a test run never builds it. Its checkpoint is
    loaded once (:meth:`load`), strictly. It is frozen (no gradients, never optimized), kept
    in eval mode when ``norm_eval`` (:meth:`keep_mode`), left out of the host's state dict
    (:meth:`attach`) and, by the host, out of its ``parameters()`` / ``buffers()``
    (:func:`without_teacher`). A SyncBN conversion of the whole host is undone on it
    (:meth:`restore_norm_layers`).

    Args:
        cfg: The teacher's model config dict or config file; built later in the default
            scope current now.
        checkpoint: Path or URL of the teacher's checkpoint (``teacher_ckpt``).
        allow_random: Train from a teacher with random weights when ``checkpoint`` is
            ``None``.
        norm_eval: Keep the teacher in eval mode (BN statistics frozen) at all times.

    Attributes:
        classes: Class names the checkpoint records, once :meth:`load` has run.
    """

    def __init__(self, cfg: Union[dict, str], checkpoint: Optional[str] = None,
                 allow_random: bool = False, norm_eval: bool = True) -> None:
        self.cfg = resolve_model_config(cfg, TEACHER)
        scope = DefaultScope.get_current_instance()
        if scope is not None:  # build it later in the scope the config is read in now
            self.cfg.setdefault('_scope_', scope.scope_name)
        self.checkpoint = checkpoint
        self.allow_random = allow_random
        self.norm_eval = norm_eval
        self.classes: Optional[tuple] = None
        self._loaded = False
        #: classes of the teacher's norm layers, to undo a SyncBN conversion of the whole host
        self._norm_types: Dict[str, type] = {}

    def skeleton(self) -> nn.Module:
        """The teacher built on the ``meta`` device: its structure, without weights."""
        return build_skeleton(MODELS, copy.deepcopy(self.cfg))

    def attach(self, host: nn.Module) -> None:
        """Keep the teacher out of ``host``'s saved state dicts and loaded keys."""
        host._register_state_dict_hook(_drop_teacher_from_state_dict)
        host.register_load_state_dict_post_hook(_ignore_missing_teacher_keys)

    @staticmethod
    def built(host: nn.Module) -> Optional[nn.Module]:
        """The teacher if it has been built, else ``None`` (never builds it)."""
        return host._modules.get(TEACHER)

    def get(self, host: nn.Module, like: nn.Module) -> nn.Module:
        """The teacher, built at its first use on the device of ``like`` (the student).

        Building it neither draws from the global random stream nor happens in a test run.
        """
        teacher = self.built(host)
        if teacher is None:
            with torch.random.fork_rng(devices=[]):
                teacher = MODELS.build(self.cfg)
            freeze(teacher)
            device = next(chain(like.parameters(), like.buffers())).device
            teacher.to(device)
            teacher.train(host.training and not self.norm_eval)
            self._norm_types = {name: type(module) for name, module in teacher.named_modules()
                                if isinstance(module, _BatchNorm)}
            # registered as the submodule ``teacher`` (``add_module`` would refuse the name of
            # the host's ``teacher`` property)
            host._modules[TEACHER] = teacher
        return teacher

    def load(self, teacher: Callable[[], nn.Module]) -> None:
        """Load the checkpoint into the teacher, once; every rank must call it.

        Args:
            teacher: Returns the teacher, built at this call if need be (a refusal builds
                nothing).

        Raises:
            TeacherCheckpointError: If there is no checkpoint without ``allow_random``, or it
                cannot be loaded.
        """
        if self._loaded:
            return
        if self.checkpoint is None:
            if not self.allow_random:
                raise TeacherCheckpointError(
                    'model.teacher_ckpt is None: training would distil from a teacher with '
                    'random weights; set model.teacher_ckpt, or model.allow_random_teacher=True '
                    'if a random teacher is meant')
            MMLogger.get_current_instance().warning(
                'TSTDistiller trains with a random teacher (allow_random_teacher=True)')
            if dist.is_available() and dist.is_initialized():  # one random teacher for all
                module = teacher()
                for tensor in chain(module.parameters(), module.buffers()):
                    dist.broadcast(tensor.data, src=0)
        else:
            self.classes = load_teacher_checkpoint(teacher(), self.checkpoint)
        self._loaded = True

    def keep_mode(self, host: nn.Module) -> None:
        """After ``host.train(mode)``: the teacher back in eval mode when ``norm_eval``."""
        teacher = self.built(host)  # not built in a test run
        if teacher is not None and self.norm_eval:
            teacher.eval()

    def restore_norm_layers(self, host: nn.Module) -> List[str]:
        """Give the teacher back the norm layers it was built with.

        mmengine's Runner applies ``sync_bn`` to the whole model it wraps, teacher included.
        The teacher is frozen and in eval mode, where SyncBN would only normalise with its
        running statistics anyway; this swaps each converted layer back to its original class
        (``BatchNorm2d``, ...) holding the very same parameter and buffer tensors, so the
        teacher is exactly as loaded.

        Returns:
            Names (inside the teacher) of the layers restored.
        """
        teacher = self.built(host)
        if teacher is None:  # built later, after any conversion: nothing to restore
            return []
        restored = []
        for name, original in self._norm_types.items():
            parent_name, _, child = name.rpartition('.')
            parent = teacher.get_submodule(parent_name) if parent_name else teacher
            layer = getattr(parent, child)
            if type(layer) is original:
                continue
            plain = original(layer.num_features, layer.eps, layer.momentum, layer.affine,
                             layer.track_running_stats)
            for key, value in chain(layer.named_parameters(recurse=False),
                                    layer.named_buffers(recurse=False)):
                setattr(plain, key, value)  # the same tensors: nothing is copied or reset
            plain.train(layer.training)
            setattr(parent, child, plain)
            restored.append(name)
        if self.norm_eval:
            teacher.eval()
        return restored


def without_teacher(named: Iterator[Tuple[str, torch.Tensor]],
                    prefix: str) -> Iterator[Tuple[str, torch.Tensor]]:
    """``named`` (a host's named parameters or buffers under ``prefix``) without the
    teacher's."""
    teacher = f'{prefix}.{TEACHER}.' if prefix else f'{TEACHER}.'
    return ((name, tensor) for name, tensor in named if not name.startswith(teacher))


def _drop_teacher_from_state_dict(module, state_dict, prefix, local_metadata):
    for key in [key for key in state_dict if key.startswith(f'{prefix}{TEACHER}.')]:
        del state_dict[key]
    return state_dict


def _ignore_missing_teacher_keys(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [key for key in missing if not key.startswith(f'{TEACHER}.')]
