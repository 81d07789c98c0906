"""Number rounding and text as the seed's output has them (used by the reference implementation)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

CENT = Decimal("0.01")


def round_half_up(value: float, places: Decimal = CENT) -> Decimal:
    """HALF_UP rounding of a double as Spark's round() does it: on the double's decimal text, not its
    exact binary value (so 0.125 -> 0.13 and 2.675 -> 2.68)."""
    return Decimal(repr(float(value))).quantize(places, rounding=ROUND_HALF_UP)


def float32_text(value: Decimal | float) -> str:
    """Shortest text of the value as a 32-bit float, without a trailing '.0' (57.9, 47, 58.47)."""
    return np.format_float_positional(np.float32(float(value)), unique=True, trim="-")


def float64_text(value: Decimal | float) -> str:
    """Shortest text of the value as a 64-bit float, without a trailing '.0'."""
    return np.format_float_positional(np.float64(float(value)), unique=True, trim="-")


def as_float32(value: float) -> float:
    """The double nearest to the 32-bit float nearest to ``value``."""
    return float(np.float32(value))


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """CSV as the seed wrote it: LF line ends, quotes only where a field needs them, an empty alert empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()
