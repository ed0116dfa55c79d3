"""The one number formatter of every report, and its marker for a missing value."""

from __future__ import annotations

import math
import numbers
from typing import Any

#: what every report shows for a missing, NaN or infinite value
MISSING = "—"


def is_missing(value: Any) -> bool:
    """Whether ``value`` is None, or a NaN or infinite number."""
    return value is None or (
        isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value)
    )


def number(value: Any, digits: int = 3) -> str:
    """A value for display: ``digits`` decimals in (-1000, 1000), else 4 significant digits;
    integers with thousands separators; :data:`MISSING` when missing; text as it is."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.4g}"


def percent(value: Any) -> str:
    """A share in [0, 1] as a whole percentage, or :data:`MISSING`."""
    return MISSING if is_missing(value) else f"{100 * value:.0f}%"


def sort_key(value: Any) -> str:
    """The ``data-sort`` attribute of a table cell: the number, or empty when missing."""
    return "" if is_missing(value) else repr(float(value))
