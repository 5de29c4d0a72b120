"""Config checks and adjustments shared by ``tools/train.py`` and ``tools/test.py``."""
import os
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import find_latest_checkpoint
from torch import nn

from ..errors import (  # ConfigError lived here before
    CheckpointError,
    ConfigError,
    ConfigFileNotFoundError,
    check_settings,
    did_you_mean,
)
from .checkpoint_file import load_checkpoint_file, weights_only_refusal
from .unwrap import unwrap_model

__all__ = ['ConfigError', 'error_line', 'refusal_line', 'KNOWN_SCOPES', 'check_default_scope',
           'check_tst_settings', 'enable_amp',
           'init_cpu_distributed', 'configure_model_wrapper', 'load_tool_config',
           'prepare_launch', 'state_dict_mismatch', 'resume_checkpoint_path',
           'check_resume_checkpoint', 'check_load_from_checkpoint', 'LOAD_FROM_MIN_SHARE']

#: ``default_scope`` values a tst-mm config may use, with the task they mean.
KNOWN_SCOPES = {'mmpretrain': 'classification', 'mmdet': 'detection',
                'mmseg': 'semantic segmentation'}


def error_line(err: BaseException) -> str:
    """The one line of an error message that says what went wrong, for one-line refusals.

    The first line, except for torch's ``weights_only`` unpickling errors, which open with
    advice to turn the check off: for those, what was refused (the global it names).
    """
    lines = [line.strip() for line in str(err).strip().splitlines()]
    return weights_only_refusal(err) or (lines or [type(err).__name__])[0]


def refusal_line(err: BaseException) -> str:
    """``'error: <message>'`` on one line, as the tools print a refusal (a message that
    spans lines is joined)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return 'error: ' + (' '.join(lines) or type(err).__name__)


#: Config keys no module's ``__init__`` receives (mmengine's registry consumes them).
_BUILD_KEYS = ('type', '_scope_')


def _tst_modules() -> dict:
    """``'tst_mm.<name>'`` -> class, for every module in tst-mm's registries."""
    from .. import registry
    modules = {}
    for reg in (registry.MODELS, registry.MODEL_WRAPPERS, registry.HOOKS, registry.LOOPS,
                registry.DATASETS, registry.DATA_SAMPLERS, registry.OPTIM_WRAPPER_CONSTRUCTORS):
        modules.update({f'{registry.SCOPE}.{name}': cls for name, cls in reg.module_dict.items()})
    return modules


def check_tst_settings(cfg: Config) -> None:
    """Refuse, before anything is built, what would otherwise fail with a traceback later.

    - every ``type='tst_mm.<name>'`` in the config names a registered tst-mm module (else
      "did you mean" the closest);
    - the dict of a tst-mm module that checks its settings (``TSTDistiller``, the TST loops,
      ``LearnableAugmenter``) has only keys its ``__init__`` takes (else "did you mean");
    - local ``model.student`` / ``model.teacher`` config files exist.

    The modules refuse the same settings when they are built (for launchers other than
    ``tools/train.py`` and ``tools/test.py``); here it happens before the Runner logs its
    environment and the whole config.

    Raises:
        ConfigError: Naming the config key.
    """
    modules = _tst_modules()

    def visit(node, path: str) -> None:
        if isinstance(node, dict):
            kind = node.get('type')
            if isinstance(kind, str) and kind.startswith('tst_mm.'):
                if kind not in modules:
                    raise ConfigError(f'{path}.type: {kind!r} is no tst_mm module'
                                      f'{did_you_mean(kind, modules)}')
                settings = vars(modules[kind]).get('tst_settings')  # not a parent class's
                if settings is not None and settings[1] is not None:
                    check_settings(f'{path} ({kind})', [key for key in node
                                                        if key not in _BUILD_KEYS], settings[1])
            for key, value in node.items():
                visit(value, f'{path}.{key}' if path else str(key))
        elif isinstance(node, (list, tuple)):
            for index, value in enumerate(node):
                visit(value, f'{path}[{index}]')

    visit(cfg.to_dict(), '')
    model = cfg.get('model')
    if isinstance(model, dict) and str(model.get('type', '')).startswith('tst_mm.'):
        for role in ('student', 'teacher'):
            path = model.get(role)
            if isinstance(path, str) and '::' not in path and not osp.isfile(path):
                raise ConfigFileNotFoundError(
                    f'model.{role}: config file not found: {path} (a relative path is read '
                    'against the config file, then its _base_ files, as _base_ is)')


def check_default_scope(cfg: Config) -> str:
    """Return the config's ``default_scope`` after checking it names a known toolbox.

    Args:
        cfg: The loaded config.

    Returns:
        The scope, e.g. ``'mmdet'``.

    Raises:
        ConfigError: If ``default_scope`` is missing or not one of :data:`KNOWN_SCOPES`.
    """
    scope = cfg.get('default_scope')
    if scope not in KNOWN_SCOPES:
        known = ', '.join(f"'{name}' ({task})" for name, task in KNOWN_SCOPES.items())
        raise ConfigError(f"config key 'default_scope' is {scope!r}; set it to one of {known}, "
                          "e.g. by inheriting the toolbox's default_runtime config")
    return scope


def enable_amp(cfg: Config) -> None:
    """Switch every optimizer wrapper of ``cfg`` to mmengine's ``AmpOptimWrapper``.

    Handles a plain ``optim_wrapper=dict(type=..., optimizer=...)`` as well as a dict of
    named wrappers (one per optimised part, as TST's student / augmenter pair uses).

    Args:
        cfg: The config to change in place.

    Raises:
        ConfigError: If no CUDA device is available (mmengine's AMP wrapper needs one) or the
            config has no ``optim_wrapper``.
    """
    if not torch.cuda.is_available():
        raise ConfigError('--amp needs a CUDA device (mmengine 0.10.7 AmpOptimWrapper does not '
                          'support CPU); run without --amp here')
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        raise ConfigError("--amp given but the config has no 'optim_wrapper'")
    if 'optimizer' in optim_wrapper or 'type' in optim_wrapper:
        wrappers = [optim_wrapper]
    else:  # named wrappers, e.g. dict(constructor=..., student=dict(...), augmenter=dict(...))
        wrappers = [value for key, value in optim_wrapper.items()
                    if isinstance(value, dict) and 'optimizer' in value]
    for wrapper in wrappers:
        if wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            continue
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')


def init_cpu_distributed(cfg: Config, launcher: str) -> Optional[int]:
    """Start a gloo process group for a CPU-only ``torchrun`` launch.

    mmengine 0.10.7's own ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` and its
    default DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail without CUDA. On a machine
    without CUDA this initialises the process group itself (the Runner then skips its own
    init) and makes the model wrapper use ``device_ids=None``. With CUDA it does nothing.

    Args:
        cfg: The config; its ``model_wrapper_cfg`` is adjusted in place on CPU.
        launcher: The ``--launcher`` argument.

    Returns:
        The rank on CPU runs that were initialised here, else ``None``.
    """
    if launcher != 'pytorch' or torch.cuda.is_available():
        return None
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    if 'DistributedDataParallel' in str(wrapper_cfg.get('type', '')):
        wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
    os.environ.setdefault('LOCAL_RANK', '0')
    return dist.get_rank()


def configure_model_wrapper(cfg: Config, launcher: str) -> None:
    """Wrap a TST distiller with ``tst_mm.TSTDistributedWrapper`` in distributed runs.

    mmengine's default DDP wrapper would run its own training step and skip TST's
    alternating updates; a config that names another wrapper is left as it is.

    Args:
        cfg: The config, changed in place.
        launcher: The ``--launcher`` argument.
    """
    if launcher == 'none' or cfg.get('model_wrapper_cfg') is not None:
        return
    if str(cfg.get('model', {}).get('type', '')).endswith('TSTDistiller'):
        cfg.model_wrapper_cfg = dict(type='tst_mm.TSTDistributedWrapper')


def load_tool_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str],
                     launcher: str) -> Config:
    """Load a config as ``tools/train.py`` and ``tools/test.py`` do.

    Resolves relative ``model.student`` / ``model.teacher`` config paths against the config
    file (as ``_base_`` is), applies ``--cfg-options``, checks the scope and the TST settings
    (:func:`check_tst_settings`), records the launcher and picks the work dir (``--work-dir``,
    else the config's, else ``./work_dirs/<config name>``).

    Raises:
        ConfigError: If the file is missing, the scope unknown or a TST setting refused.
    """
    if not osp.isfile(config):
        raise ConfigError(f'config file not found: {config}')
    cfg = Config.fromfile(config)
    from tst_mm.distill.model_config import resolve_model_paths
    resolve_model_paths(cfg)  # before --cfg-options, whose paths are the shell's
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    check_default_scope(cfg)
    check_tst_settings(cfg)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def prepare_launch(cfg: Config, launcher: str) -> None:
    """Model wrapper and (on CPU) process group for a distributed launch; no-op otherwise."""
    configure_model_wrapper(cfg, launcher)
    init_cpu_distributed(cfg, launcher)


def _some(keys: Sequence[str], shown: int = 3) -> str:
    """``'a, b, c (+4 more)'``: the first keys of a list, for one-line messages."""
    text = ', '.join(keys[:shown])
    return text + (f' (+{len(keys) - shown} more)' if len(keys) > shown else '')


def state_dict_mismatch(expected: Mapping[str, torch.Tensor],
                        loaded: Mapping[str, torch.Tensor]) -> Optional[str]:
    """Say in one line how a checkpoint's state dict differs from a model's.

    Args:
        expected: The model's ``state_dict()``.
        loaded: The checkpoint's ``state_dict``.

    Returns:
        ``None`` if both have the same keys and shapes, else e.g. ``'missing 3 keys:
        student.head.fc.weight, ...; unexpected 2 keys: head.fc.weight, ...'``.
    """
    missing = [key for key in expected if key not in loaded]
    unexpected = [key for key in loaded if key not in expected]
    shapes = [f'{key} {tuple(loaded[key].shape)} vs {tuple(value.shape)}'
              for key, value in expected.items()
              if key in loaded and hasattr(loaded[key], 'shape')
              and tuple(loaded[key].shape) != tuple(value.shape)]
    parts = []
    if missing:
        parts.append(f'missing {len(missing)} keys: {_some(missing)}')
    if unexpected:
        parts.append(f'unexpected {len(unexpected)} keys: {_some(unexpected)}')
    if shapes:
        parts.append(f'{len(shapes)} shape mismatches (checkpoint vs model): {_some(shapes)}')
    return '; '.join(parts) or None


def resume_checkpoint_path(cfg: Config) -> Optional[str]:
    """The checkpoint a Runner built from ``cfg`` will resume from, as mmengine picks it.

    Args:
        cfg: The config (``resume``, ``load_from``, ``work_dir``).

    Returns:
        ``load_from`` when resuming from a given file, the work dir's latest checkpoint when
        resuming automatically, ``None`` when not resuming or nothing was saved yet.
    """
    if not cfg.get('resume', False):
        return None
    if cfg.get('load_from') is not None:
        return cfg.load_from
    return find_latest_checkpoint(cfg.work_dir)


def _model_state(checkpoint) -> Dict[str, torch.Tensor]:
    """A checkpoint's state dict, without the ``module.`` prefix mmengine also drops."""
    loaded = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    return {key[len('module.'):] if key.startswith('module.') else key: value
            for key, value in loaded.items()} if isinstance(loaded, dict) else {}


def check_resume_checkpoint(cfg: Config, model: nn.Module) -> None:
    """Refuse to resume from a checkpoint saved from another config, naming the keys.

    mmengine's ``Runner.resume`` loads the model non-strictly: a checkpoint of another model
    only logs warnings and training goes on with partly random weights. This loads the
    checkpoint's state dict first (memory-mapped) and compares keys and shapes with the
    built model (a ``module.`` prefix is dropped as mmengine does; a TST distiller leaves
    its teacher out of both).

    Args:
        cfg: The config the Runner was built from.
        model: The Runner's model (wrapped or not).

    Raises:
        ConfigError: If the checkpoint to resume from is missing, unreadable or does not
            match.
    """
    path = resume_checkpoint_path(cfg)
    if path is None or '://' in str(path):  # fresh start, or a URL mmengine fetches itself
        return
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint to resume from not found: {path}')
    checkpoint = load_checkpoint_file(path, f'the checkpoint to resume from, {path}', mmap=True)
    loaded = _model_state(checkpoint)
    model = unwrap_model(model)
    mismatch = state_dict_mismatch(model.state_dict(), loaded)
    if mismatch is not None:
        raise CheckpointError(f'cannot resume from {path}: it was saved from a different '
                              f'model (another config?): {mismatch}')


#: ``load_from`` is refused when less than this share of the model's weights (counted in
#: elements) would be loaded: "nothing or almost nothing" of the model. A checkpoint of the same
#: architecture with another head, or a backbone checkpoint for a detector, loads far more.
LOAD_FROM_MIN_SHARE = 0.1


def _renamed_fits(expected: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor],
                  add: str = '', drop: str = '') -> bool:
    """Whether most of ``loaded`` would fit ``expected`` with ``add`` prepended to its keys or
    ``drop`` removed from their start."""
    renamed = {add + key[len(drop):]: value for key, value in loaded.items()
               if key.startswith(drop)}
    fitting = [key for key, value in renamed.items()
               if key in expected and getattr(value, 'shape', None) == expected[key].shape]
    return bool(renamed) and len(fitting) >= len(loaded) / 2


def _load_from_advice(expected: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor],
                      path: str) -> str:
    """What to do instead, for the refusal of a ``load_from`` checkpoint."""
    if any(key.startswith('student.') for key in expected) and _renamed_fits(
            expected, loaded, add='student.'):
        return ("It holds the student model alone (its keys lack the distiller's 'student.' "
                'prefix): to start the student from it, drop load_from and set '
                f"model.student.init_cfg=dict(type='Pretrained', checkpoint='{path}')")
    if _renamed_fits(expected, loaded, drop='student.'):
        return ("It is a TST checkpoint (keys 'student.*'): give load_from the student that "
                'tools/export_student.py writes from it')
    return 'Is it a checkpoint of this config (architecture and num_classes)?'


def check_load_from_checkpoint(cfg: Config, model: nn.Module) -> None:
    """Refuse a ``load_from`` checkpoint that fits nothing or almost nothing of the model, and
    log how much of it loads otherwise.

    mmengine loads ``load_from`` non-strictly: a checkpoint of another model (or of the student
    alone, for a TST distiller, whose keys start with ``student.``) only logs "do not match
    exactly" and training starts from random weights. This reads the checkpoint first
    (memory-mapped) and compares it with the built model, as mmengine will load it (keys with
    the same name and shape, a ``module.`` prefix dropped; a TST distiller leaves its teacher
    out). A checkpoint behind a URL is left to mmengine.

    Args:
        cfg: The config the Runner was built from (``load_from``, ``resume``).
        model: The Runner's model (wrapped or not).

    Raises:
        CheckpointError: If the file is missing or unreadable, or less than
            :data:`LOAD_FROM_MIN_SHARE` of the model's weights would load from it.
    """
    path = cfg.get('load_from')
    if path is None or cfg.get('resume', False) or '://' in str(path):
        return  # nothing to load, a resume (checked by check_resume_checkpoint), or a URL
    if not osp.isfile(path):
        raise CheckpointError(f'load_from checkpoint not found: {path}')
    loaded = _model_state(load_checkpoint_file(path, f'load_from {path}', mmap=True))
    expected = unwrap_model(model).state_dict()
    matched = [key for key, value in expected.items()
               if getattr(loaded.get(key), 'shape', None) == getattr(value, 'shape', ())]
    sizes = {key: value.numel() if torch.is_tensor(value) else 0
             for key, value in expected.items()}
    share = sum(sizes[key] for key in matched) / max(1, sum(sizes.values()))
    counts = (f"{len(matched)} of the model's {len(expected)} tensors load from it "
              f'({share:.0%} of its weights)')
    mismatch = state_dict_mismatch(expected, loaded)
    if share < LOAD_FROM_MIN_SHARE:
        raise CheckpointError(
            f'load_from {path} fits almost nothing of the model, which would train from '
            f'random weights: {counts}; {mismatch}. {_load_from_advice(expected, loaded, path)}')
    logger = MMLogger.get_current_instance()
    if mismatch is None:
        logger.info(f'load_from {path}: {counts}')
    else:
        logger.warning(f'load_from {path} fits the model in part: {counts}; {mismatch}')
