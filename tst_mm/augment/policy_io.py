"""Reading and writing augmentation policies.

A policy is a plain dict ``{op_name: {'magnitude': float | None, 'probability': float}}``
(``magnitude`` is ``None`` for ops without a learnable magnitude), stored as JSON.
"""
import json
import math
import os
from typing import Dict, Optional, Union

from ..errors import ConfigError, ConfigFileNotFoundError

__all__ = ['Policy', 'load_policy', 'save_policy', 'inverse_sigmoid']

Policy = Dict[str, Dict[str, Optional[float]]]

#: Probabilities and magnitudes are clamped to [EPS, 1 - EPS] before taking the logit.
EPS = 1e-6


def inverse_sigmoid(p: float, eps: float = EPS) -> float:
    """Return the logit of ``p`` clamped to ``[eps, 1 - eps]``."""
    p = min(max(float(p), eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


def load_policy(policy: Union[Policy, str, os.PathLike]) -> Policy:
    """Return a policy given as a dict or as the path of a JSON file.

    Args:
        policy: The policy itself or a path to a JSON file written by :func:`save_policy`.

    Returns:
        The policy dict.

    Raises:
        ConfigFileNotFoundError: If the path does not exist.
        ConfigError: If the content is not a policy.
    """
    if isinstance(policy, (str, os.PathLike)):
        if not os.path.isfile(policy):
            raise ConfigFileNotFoundError(f'Augmentation policy file not found: {policy}')
        with open(policy, encoding='utf-8') as f:
            policy = json.load(f)
    if not isinstance(policy, dict) or not all(
            isinstance(v, dict) and 'probability' in v for v in policy.values()):
        raise ConfigError('A policy must map op names to dicts with a "probability" (and '
                          f'optionally a "magnitude"); got {policy!r}.')
    return policy


def save_policy(policy: Policy, path: Union[str, os.PathLike]) -> None:
    """Write a policy as indented JSON, creating the parent directory if needed."""
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(policy, f, indent=2)
        f.write('\n')
