"""The errors tst-mm raises for input it cannot use.

This module imports nothing from the package, so every layer (augment, distill, engine, utils,
tools) can raise and catch these without an import circle.
"""

__all__ = ['ConfigError', 'CheckpointError']


class ConfigError(ValueError):
    """A config that cannot run; the message says what is wrong and how to fix it."""


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used (missing, damaged, refused by ``weights_only=True``,
    or of another model); the message names the file and what is wrong with it."""
