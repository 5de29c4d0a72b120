"""Resolve the ``student`` / ``teacher`` entries of a distiller config to model config dicts."""
import os.path as osp
from typing import List, Optional, Union

from mmengine.config import Config, ConfigDict

from ..errors import ConfigError, ConfigFileNotFoundError

__all__ = ['resolve_model_config', 'apply_data_preprocessor', 'merge_data_preprocessor',
           'resolve_model_paths']

#: Model entries of a distiller config that may name a config file.
MODEL_KEYS = ('student', 'teacher')


def _package_config(name: str, role: str) -> Config:
    """The config ``'mmdet::path.py'`` of an installed package.

    Read straight from the package's ``.mim/configs`` folder; only a name that is not a file
    there goes through ``mmengine.hub.get_config``, which parses every metafile of the package
    to find it (seconds per call).

    Raises:
        ConfigFileNotFoundError: If no installed package has that config.
    """
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.hub import get_config
    from mmengine.utils import get_installed_path, is_installed
    try:
        package, path = _get_package_and_cfg_path(name)
    except ValueError:  # mmengine's message speaks of its own function
        raise ConfigFileNotFoundError(
            f'{role} config {name}: no such package config; write pkg::path/to/config.py with '
            'pkg an installed OpenMMLab package (mmdet, mmseg, mmpretrain)') from None
    if not is_installed(package):
        raise ConfigFileNotFoundError(f'{role} config {name}: {package} is not installed')
    local = osp.join(get_installed_path(package), '.mim', 'configs', path)
    if osp.isfile(local):
        return Config.fromfile(local)
    try:
        return get_config(name)
    except FileNotFoundError:
        raise ConfigFileNotFoundError(f'{role} config file not found: {name} (no {path} among '
                                      f'the configs of the installed {package})') from None


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
        ConfigFileNotFoundError: If a config file (local, or of an installed package) does not
            exist.
        ConfigError: If ``model`` is neither a dict nor a path, or its config file defines no
            ``model``.
    """
    if isinstance(model, dict):
        return ConfigDict(model)
    if not isinstance(model, str):
        raise ConfigError(f'{role} must be a model dict or a config path, got {type(model)}')
    if '::' in model:
        cfg = _package_config(model, role)
    else:
        if not osp.isfile(model):
            raise ConfigFileNotFoundError(
                f'{role} config file not found: {model} (tools/train.py and tools/test.py '
                'resolve a relative path against the config file, as _base_ is; other '
                "launchers need an absolute path or '{{ fileDirname }}/' in front of it)")
        cfg = Config.fromfile(model)
    if 'model' not in cfg:
        raise ConfigError(f'{role} config {model} defines no `model`')
    model_cfg = cfg.model
    # As mmengine's Runner does: a top-level data_preprocessor belongs to the model.
    if cfg.get('data_preprocessor') is not None and 'data_preprocessor' not in model_cfg:
        model_cfg.data_preprocessor = cfg.data_preprocessor
    return model_cfg


def _plain(value):
    """Tuples as lists, so that ``mean=(1, 2)`` and ``mean=[1, 2]`` compare equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def merge_data_preprocessor(student: dict, data_preprocessor: Optional[dict]) -> Optional[str]:
    """Give the student the ``data_preprocessor`` the distiller was given, where they agree.

    mmengine's Runner hands a config's top-level ``data_preprocessor`` to the model it builds,
    and ``--cfg-options model.data_preprocessor...`` targets the distiller; the distiller uses
    its student's preprocessor, so such settings must reach the student. Settings the student
    lacks are added; equal ones are fine; a setting that differs from the student's own is
    not taken (the student keeps its own) and the refusal is returned, for the distiller to
    raise after the checks of the architecture (a model TST cannot distil is refused first,
    rather than after the user has fixed the preprocessor).

    Args:
        student: The student's model config (changed in place).
        data_preprocessor: The distiller's ``data_preprocessor`` argument.

    Returns:
        The refusal, one line, if both set a key to different values; else ``None``.

    Raises:
        ConfigError: If the preprocessor is no dict.
    """
    if data_preprocessor is None:
        return None
    if not isinstance(data_preprocessor, dict):
        raise ConfigError('TSTDistiller takes data_preprocessor as a config dict, got '
                          f'{type(data_preprocessor).__name__}; or set it in the student config')
    own = student.get('data_preprocessor') or {}
    differing = [key for key in data_preprocessor
                 if key in own and _plain(own[key]) != _plain(data_preprocessor[key])]
    student['data_preprocessor'] = ConfigDict(
        {**own, **{key: value for key, value in data_preprocessor.items()
                   if key not in differing}})
    if not differing:
        return None
    values = '; '.join(f'{key}={_plain(data_preprocessor[key])!r} (distiller) vs '
                       f'{_plain(own[key])!r} (student)' for key in differing)
    return ('the distiller\'s data_preprocessor differs from the student\'s: '
            f'{values}. The distiller\'s is model.data_preprocessor or, when that is not '
            'set, the config\'s top-level `data_preprocessor` key, which mmengine\'s Runner '
            'passes to the model; the student\'s is model.student.data_preprocessor (or the '
            'top-level one of the student\'s config file) and preprocesses for both models. '
            'Set the values you want in both places: the top-level `data_preprocessor` key '
            '(or `data_preprocessor = None` there, to leave it to the student) as well as '
            'model.student.data_preprocessor; and the same normalisation in the teacher')


def apply_data_preprocessor(student: dict, data_preprocessor: Optional[dict]) -> dict:
    """:func:`merge_data_preprocessor`, raising its refusal at once.

    Returns:
        ``student``.

    Raises:
        ConfigError: If both set a key to different values, or the preprocessor is no dict.
    """
    problem = merge_data_preprocessor(student, data_preprocessor)
    if problem is not None:
        raise ConfigError(problem)
    return student


def _config_dirs(filename: str, seen: Optional[set] = None) -> List[str]:
    """Directories of a config file and of its local ``_base_`` files, nearest first."""
    seen = set() if seen is None else seen
    filename = osp.abspath(filename)
    if filename in seen or not osp.isfile(filename):
        return []
    seen.add(filename)
    dirs = [osp.dirname(filename)]
    try:
        bases = Config._get_base_files(filename)
    except Exception:  # an unreadable _base_ fails in Config.fromfile anyway
        bases = []
    for base in bases if isinstance(bases, list) else [bases]:
        if isinstance(base, str) and '::' not in base:
            dirs += _config_dirs(osp.join(osp.dirname(filename), base), seen)
    return list(dict.fromkeys(dirs))


def resolve_model_paths(cfg: Config) -> None:
    """Make relative ``model.student`` / ``model.teacher`` config paths absolute, as
    ``_base_`` paths are: against the config file (then its ``_base_`` files), not against
    the working directory.

    Args:
        cfg: A loaded config (its ``filename`` says where it was read from); changed in place.
    """
    model = cfg.get('model')
    if not isinstance(model, dict) or not cfg.filename:
        return
    for key in MODEL_KEYS:
        path = model.get(key)
        if not isinstance(path, str) or '::' in path or osp.isabs(path):
            continue
        for directory in _config_dirs(cfg.filename):
            if osp.isfile(osp.join(directory, path)):
                model[key] = osp.normpath(osp.join(directory, path))
                break
