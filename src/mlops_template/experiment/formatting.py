"""Numbers a person can read: enough significant digits for small deltas, never ``-0.0000``."""

from __future__ import annotations

import math


def decimals_for(*scales: float, minimum: int = 4, maximum: int = 8) -> int:
    """Decimals that show the smallest non-zero ``scale`` with two significant digits (at least ``minimum``)."""
    nonzero = [abs(s) for s in scales if s and math.isfinite(s)]
    if not nonzero:
        return minimum
    need = 1 - math.floor(math.log10(min(nonzero)))
    return max(minimum, min(maximum, need))


def num(value: float, decimals: int = 4) -> str:
    """A metric value; a value that rounds to zero is printed as 0, never -0.0000."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def signed(value: float, decimals: int = 4) -> str:
    """A delta with its sign (+0.00031, -0.012); exactly zero is ``0``; a tiny non-zero gets more digits."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    decimals = max(decimals, decimals_for(value))
    text = f"{value:+.{decimals}f}"
    return f"{value:+.1e}" if float(text) == 0 else text
