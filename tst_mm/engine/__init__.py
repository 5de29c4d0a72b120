"""engine of tst-mm."""

__all__ = []
