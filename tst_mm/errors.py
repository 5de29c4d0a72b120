"""The errors tst-mm raises for input it cannot use.

This module imports nothing from the package, so every layer (augment, distill, engine, utils,
tools) can raise and catch these without an import circle.
"""

__all__ = ['ConfigError']


class ConfigError(ValueError):
    """A config that cannot run; the message says what is wrong and how to fix it."""
