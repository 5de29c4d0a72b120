"""Load and check a config as ``tools/train.py`` and ``tools/test.py`` do."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config

from .. import registry
from ..distill.model_config import resolve_model_paths
from ..errors import ConfigError, ConfigFileNotFoundError, check_settings, did_you_mean

__all__ = ['KNOWN_SCOPES', 'check_default_scope', 'check_tst_settings', 'enable_amp',
           'load_tool_config']

#: ``default_scope`` values a tst-mm config may use, with the task they mean.
KNOWN_SCOPES = {'mmpretrain': 'classification', 'mmdet': 'detection',
                'mmseg': 'semantic segmentation'}

#: Config keys no module's ``__init__`` receives (mmengine's registry consumes them).
_BUILD_KEYS = ('type', '_scope_')


def _tst_modules() -> dict:
    """``'tst_mm.<name>'`` -> class, for every module in tst-mm's registries."""
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
