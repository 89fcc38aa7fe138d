"""Phrases shared by messages and descriptions."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Longest value quoted in a message: a cell can be a megabyte, a message should stay a line.
QUOTED_CHARACTERS = 40


def quoted(value) -> str:
    """``repr(value)``, cut to ``QUOTED_CHARACTERS`` with an ellipsis when longer."""
    text = repr(value)
    return text if len(text) <= QUOTED_CHARACTERS else text[: QUOTED_CHARACTERS - 1] + "…"


def plain(value):
    """``value`` as JSON holds it: a Python number for a numpy one, None for NaN or infinity,
    ISO text for a timestamp."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def shortened(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listing(names: list[str], *, shown: int = 10, quote: bool = True) -> str:
    """``'a', 'b' and 3 more``: a list of names short enough to read in a sentence."""
    words = [quoted(n) if quote else str(n) for n in names[:shown]]
    return ", ".join(words) + (f" and {len(names) - shown} more" if len(names) > shown else "")
