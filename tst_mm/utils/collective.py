"""Decisions that every process of a distributed run takes together.

A rank that decides alone (to skip a step, to give up on a download) leaves the others waiting
in a collective it never joins: under gloo the next collectives pair up wrongly and fail with
size mismatches, under NCCL they hang. Each decision here costs one all-reduce of one number.
"""
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size

__all__ = ['OK', 'NON_FINITE', 'FAILED', 'worst_on_any_rank', 'raise_if_failed_elsewhere']

#: Outcome codes, ordered by severity: the largest code over the ranks wins.
OK, NON_FINITE, FAILED = 0, 1, 2


def worst_on_any_rank(code: int, device: Optional[torch.device] = None) -> int:
    """The largest ``code`` over all ranks (one all-reduce); ``code`` itself in one process.

    Every rank must call it at the same point, whatever its own outcome.

    Args:
        code: This rank's outcome, e.g. :data:`OK`, :data:`NON_FINITE` or :data:`FAILED`.
        device: Where to build the flag (mmengine moves it to the backend's device).
    """
    if get_world_size() == 1:
        return code
    flag = torch.tensor([code], dtype=torch.int64, device=device)
    all_reduce(flag, op='max')
    return int(flag.item())


def raise_if_failed_elsewhere(ok: bool, what: str) -> None:
    """Agree on whether ``what`` worked everywhere; raise on the ranks where it did.

    The rank that failed raises its own error after calling this (with ``ok=False``); the
    others raise here, so no rank is left waiting.

    Args:
        ok: Whether ``what`` worked on this rank.
        what: What was attempted, for the message.

    Raises:
        RuntimeError: If ``what`` failed on another rank but not here.
    """
    if worst_on_any_rank(OK if ok else FAILED) == FAILED and ok:
        raise RuntimeError(f'{what} failed on another rank; its log says why')
