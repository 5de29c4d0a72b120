"""The errors tst-mm raises for input it cannot use, and how an unknown setting is refused.

This module imports nothing from the package (only the standard library), so every layer
(augment, distill, engine, utils, tools) can raise and catch these without an import circle.

Every refusal of a config is a :class:`ConfigError` (``tools/train.py`` and ``tools/test.py``
print it as one line, without a traceback); the subclasses also keep the built-in type such a
refusal was raised as before, so code that caught ``TypeError`` or ``FileNotFoundError`` still
does.
"""
import difflib
import functools
import inspect
from typing import Iterable, List, Optional, Sequence

__all__ = ['ConfigError', 'CheckpointError', 'UnsupportedModelError',
           'ConfigFileNotFoundError', 'did_you_mean', 'unknown_settings_error',
           'check_settings', 'check_choice', 'refuses_unknown_settings']


class ConfigError(ValueError):
    """A config that cannot run; the message says what is wrong and how to fix it."""


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used (missing, damaged, refused by ``weights_only=True``,
    or of another model); the message names the file and what is wrong with it."""


class UnsupportedModelError(ConfigError, TypeError):
    """A student or teacher (or a part of one: RoI head, loss) of a type TST cannot distil."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A file a config names (a student or teacher config, a policy) does not exist."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` with the known name closest to ``name``, or ``''``."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f'; did you mean {close[0]!r}?' if close else ''


def unknown_settings_error(owner: str, unknown: Sequence[str],
                           known: Iterable[str]) -> ConfigError:
    """The refusal of settings ``owner`` does not take, with the closest known one.

    Args:
        owner: What was given them, e.g. ``'tst_mm.TSTDistiller'`` or ``'train_cfg.online'``.
        unknown: The keys it does not take.
        known: The keys it takes.

    Returns:
        E.g. ``ConfigError("tst_mm.TSTDistiller has no setting 'augment_ratios'; did you mean
        'augment_ratio'?")``; the settings it takes are listed when none is close.
    """
    known = list(known)
    parts = [f'{key!r}{did_you_mean(key, known)}' for key in unknown]
    hint = '' if all('did you mean' in part for part in parts) \
        else f' (it takes: {", ".join(known)})'
    noun = 'setting' if len(unknown) == 1 else 'settings'
    return ConfigError(f'{owner} has no {noun} {", ".join(parts)}{hint}')


def check_choice(name: str, value: object, choices: Sequence, owner: str = '') -> None:
    """Refuse a setting ``name`` whose ``value`` is not one of ``choices``.

    Args:
        name: The setting's name, as the config spells it.
        value: Its value.
        choices: The values it may take.
        owner: What the setting belongs to (e.g. ``'search_objective'``), put before the
            name; empty for none.

    Raises:
        ConfigError: ``"<owner>: <name> must be one of <choices>, got <value>"``.
    """
    if value not in choices:
        where = f'{owner}: ' if owner else ''
        raise ConfigError(f'{where}{name} must be one of {tuple(choices)}, got {value!r}')


def check_settings(owner: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Refuse (:func:`unknown_settings_error`) the keys of ``given`` not in ``known``."""
    known = list(known)
    unknown = [key for key in given if key not in known]
    if unknown:
        raise unknown_settings_error(owner, unknown, known)


def _keyword_names(function) -> Optional[List[str]]:
    """The keyword arguments ``function`` takes (``self`` aside); ``None`` if it takes any."""
    names = []
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              inspect.Parameter.KEYWORD_ONLY) and name != 'self':
            names.append(name)
    return names


def refuses_unknown_settings(owner: Optional[str] = None):
    """Class decorator: a keyword argument the class's ``__init__`` does not take is refused
    as a :class:`ConfigError` with "did you mean" (Python's own ``TypeError: unexpected keyword
    argument`` names no alternative).

    Args:
        owner: The name in the message; default ``'tst_mm.<class name>'``, the ``type`` a
            config gives it.
    """
    def decorate(cls):
        init = cls.__init__
        known = _keyword_names(init)
        name = owner or f'tst_mm.{cls.__name__}'

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            if known is not None:
                check_settings(name, kwargs, known)
            init(self, *args, **kwargs)

        cls.__init__ = __init__
        cls.tst_settings = (name, known)
        return cls
    return decorate
