"""augment of tst-mm."""

__all__ = []
