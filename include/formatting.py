"""Number rounding and text as the seed's output has them (used by the reference implementation); the one-line
texts a person reads of a task's error and of a validation part (`make run`'s summary and the notices)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

CENT = Decimal("0.01")
ERROR_WIDTH = 240  # an error line longer than this is cut; the task log has it whole


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


def one_line(text: str, width: int = ERROR_WIDTH) -> str:
    """The first non-empty line of ``text``, cut to ``width`` characters."""
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return first if len(first) <= width else first[:width - 3] + "..."


def error_text(error: BaseException | str | None) -> str:
    if error is None:
        return "no error was given; see the log"
    if isinstance(error, BaseException):
        return one_line(f"{type(error).__name__}: {error}")
    return one_line(error)


def part_line(name: str, part: Mapping) -> str:
    """One part of validation.json as a line: verdict and counts, only the columns that differ."""
    status = str(part.get("status", "?"))
    if status in ("pass", "fail", "explained"):  # compared parts ("explained": live run, late data allowed)
        differing = {col: n for col, n in part["mismatches_per_column"].items() if n}
        values = ("mismatched values: " + ", ".join(f"{col}={n}" for col, n in differing.items())
                  if differing else "0 mismatched values")
        tolerated = (f", {part['within_tolerance']} more within tolerance" if part.get("within_tolerance")
                     else "")
        return (f"  {name + ':':<10}{status.upper()}  {part['matching']} of {part['expected_rows']} expected "
                f"rows match{tolerated} ({part['produced_rows']} produced, {part['missing']} missing, "
                f"{part['extra']} extra, {values})")
    return f"  {name + ':':<10}{status}: {part.get('reason', '')}"
