"""One-line messages of errors, for refusals that print no traceback."""
from .checkpoint_file import weights_only_refusal

__all__ = ['error_line', 'refusal_line']


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
