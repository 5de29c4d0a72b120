"""distill of tst-mm."""

__all__ = []
