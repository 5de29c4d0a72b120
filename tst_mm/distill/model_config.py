"""Resolve the ``student`` / ``teacher`` entries of a distiller config to model config dicts."""
import os.path as osp
from typing import Union

from mmengine.config import Config, ConfigDict

__all__ = ['resolve_model_config']


def _package_config(name: str) -> Config:
    """The config ``'mmdet::path.py'`` of an installed package.

    Read straight from the package's ``.mim/configs`` folder; only a name that is not a file
    there goes through ``mmengine.hub.get_config``, which parses every metafile of the package
    to find it (seconds per call).
    """
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.hub import get_config
    from mmengine.utils import get_installed_path, is_installed
    package, path = _get_package_and_cfg_path(name)
    if is_installed(package):
        local = osp.join(get_installed_path(package), '.mim', 'configs', path)
        if osp.isfile(local):
            return Config.fromfile(local)
    return get_config(name)


def resolve_model_config(model: Union[dict, str], role: str) -> dict:
    """Turn a model dict, a local config file or a ``pkg::path`` config into a model dict.

    Args:
        model: A model config dict; a path to a config file whose ``model`` is used (local
            files, including ones outside any installed package); or ``'mmdet::path.py'``
            style names of configs shipped with an installed OpenMMLab package.
        role: ``'student'`` or ``'teacher'``, used in error messages.

    Returns:
        The model config as a ``ConfigDict``; a config file's top-level
        ``data_preprocessor`` is moved into it, as mmengine's Runner does.

    Raises:
        FileNotFoundError: If a local config file does not exist.
        ValueError: If the config file defines no ``model``.
    """
    if isinstance(model, dict):
        return ConfigDict(model)
    if not isinstance(model, str):
        raise TypeError(f'{role} must be a model dict or a config path, got {type(model)}')
    if '::' in model:
        cfg = _package_config(model)
    else:
        if not osp.isfile(model):
            raise FileNotFoundError(f'{role} config file not found: {model}')
        cfg = Config.fromfile(model)
    if 'model' not in cfg:
        raise ValueError(f'{role} config {model} defines no `model`')
    model_cfg = cfg.model
    # As mmengine's Runner does: a top-level data_preprocessor belongs to the model.
    if cfg.get('data_preprocessor') is not None and 'data_preprocessor' not in model_cfg:
        model_cfg.data_preprocessor = cfg.data_preprocessor
    return model_cfg
