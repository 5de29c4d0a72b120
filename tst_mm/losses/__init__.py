"""losses of tst-mm."""

__all__ = []
