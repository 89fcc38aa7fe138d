"""Phrases shared by messages and descriptions."""

from __future__ import annotations


def listing(names: list[str], *, shown: int = 10, quote: bool = True) -> str:
    """``'a', 'b' and 3 more``: a list of names short enough to read in a sentence."""
    words = [repr(n) if quote else str(n) for n in names[:shown]]
    return ", ".join(words) + (f" and {len(names) - shown} more" if len(names) > shown else "")
