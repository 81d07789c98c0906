"""Recordings as teams have them, made from a clean one for the tests: spreadsheet and export quirks, compressed."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
from collections.abc import Callable
from pathlib import Path

import zstandard

# How each suffix's bytes are made (what the tools write: gzip, bzip2, xz, zstd at their default levels).
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".csv": lambda data: data,
    ".csv.gz": lambda data: gzip.compress(data, compresslevel=6),
    ".csv.bz2": bz2.compress,
    ".csv.xz": lzma.compress,
    ".csv.zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


def quirky_text(clean: Path, extra: str = "region", order: list[str] | None = None) -> bytes:
    """``clean``'s rows as a spreadsheet export writes them: a UTF-8 BOM, CRLF line ends, the columns in
    ``order`` (default: the clean order reversed) with spaces around the header names, an ``extra`` column
    (a label) in the middle, and two blank lines at the end."""
    with clean.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    order = order or list(reversed(header))
    order = order[:1] + [extra] + order[1:]  # the label second, between two real columns
    at = {name: i for i, name in enumerate(header)}
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f" {name} " if name != extra else name for name in order])
    for row in body:
        writer.writerow([row[at[name]] if name != extra else "eu-west-1" for name in order])
    return ("\ufeff" + out.getvalue() + "\r\n\r\n").encode("utf-8")


def write_quirky(clean: Path, target: Path, **kw) -> Path:
    """``quirky_text(clean)`` written to ``target``, compressed as its suffix says (see COMPRESSORS)."""
    suffix = next(s for s in sorted(COMPRESSORS, key=len, reverse=True) if target.name.endswith(s))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(COMPRESSORS[suffix](quirky_text(clean, **kw)))
    return target
