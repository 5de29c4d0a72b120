"""datasets of tst-mm."""

__all__ = []
