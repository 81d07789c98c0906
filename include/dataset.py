"""The recorded metrics dataset: strict parsing, compact columns, and grouping by timestamp.

The file is read once, row by row, and every row is checked before anything is sent, so a corrupt file
fails the producer before a single message leaves (nothing half-streamed). Values are kept in numpy
columns rather than Python objects so that a 100x day (2.88 M rows) stays small in memory.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASE_COLUMNS = ("server_id", "timestamp", "cpu_pct", "mem_pct")
NET_DISK_COLUMNS = ("net_in", "net_out", "disk_io")
PERCENT_FIELDS = ("cpu_pct", "mem_pct")
SECONDS_PER_DAY = 86_400
# A generous bound on one line (a real row is ~40 bytes); a longer one is corrupt input, not data.
MAX_LINE_BYTES = 8_000


class DatasetError(ValueError):
    """A dataset that cannot be replayed; the message names the file, line and field."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, problem: str) -> None:
        where = f"{path}"
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem


def parse_time_of_day(text: str) -> int:
    """Seconds since midnight of an ``HH:MM:SS`` time; ValueError if it is not one."""
    parts = text.split(":")
    if len(parts) != 3 or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a time of day HH:MM:SS")
    h, m, s = (int(p) for p in parts)
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"{text!r} is not a time of day HH:MM:SS")
    return h * 3600 + m * 60 + s


def format_time_of_day(seconds: int) -> str:
    seconds %= SECONDS_PER_DAY
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True)
class Group:
    """All rows that share one dataset timestamp, in file order."""

    second: int
    rows: np.ndarray  # row indices into the Dataset columns

    @property
    def original_ts(self) -> str:
        return format_time_of_day(self.second)


@dataclass(frozen=True)
class Dataset:
    path: Path
    columns: tuple[str, ...]
    servers: tuple[str, ...]
    server_index: np.ndarray  # int32 index into servers, per row
    seconds: np.ndarray  # int32 seconds since midnight, per row
    values: dict[str, np.ndarray]  # float64 per metric field, per row

    @property
    def rows(self) -> int:
        return int(self.seconds.shape[0])

    @property
    def has_net_disk(self) -> bool:
        return all(c in self.values for c in NET_DISK_COLUMNS)

    @property
    def metric_fields(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in ("server_id", "timestamp"))

    def groups(self) -> Iterator[Group]:
        """Groups of rows by timestamp, in time order; rows keep their file order inside a group."""
        order = np.lexsort((np.arange(self.rows), self.seconds))
        secs = self.seconds[order]
        bounds = np.flatnonzero(np.diff(secs)) + 1
        start = 0
        for end in [*bounds.tolist(), self.rows]:
            yield Group(second=int(secs[start]), rows=order[start:end])
            start = end

    def group_count(self) -> int:
        return int(np.unique(self.seconds).shape[0])

    @property
    def first_second(self) -> int:
        return int(self.seconds.min())


def _check_header(path: Path, header: list[str]) -> tuple[str, ...]:
    cols = [c.strip() for c in header]
    allowed = (list(BASE_COLUMNS), list(BASE_COLUMNS + NET_DISK_COLUMNS))
    if cols in allowed:
        return tuple(cols)
    for c in cols:
        if c not in BASE_COLUMNS + NET_DISK_COLUMNS:
            raise DatasetError(path, 1, c, "unexpected column; expected "
                               f"{','.join(BASE_COLUMNS)} optionally followed by {','.join(NET_DISK_COLUMNS)}")
    for c in BASE_COLUMNS:
        if c not in cols:
            raise DatasetError(path, 1, c, "missing column")
    present = [c for c in NET_DISK_COLUMNS if c in cols]
    if present and len(present) != len(NET_DISK_COLUMNS):
        missing = next(c for c in NET_DISK_COLUMNS if c not in cols)
        raise DatasetError(path, 1, missing, "missing column (net_in, net_out and disk_io come together)")
    raise DatasetError(path, 1, None, f"columns must be in the order {','.join(BASE_COLUMNS + tuple(present))}, "
                       f"got {','.join(cols)}")


def _parse_number(path: Path, line: int, field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(path, line, field, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise DatasetError(path, line, field, f"{text!r} is not a finite number")
    if field in PERCENT_FIELDS and not 0.0 <= value <= 100.0:
        raise DatasetError(path, line, field, f"{text} is outside 0..100")
    if field in NET_DISK_COLUMNS and value < 0:
        raise DatasetError(path, line, field, f"{text} is negative")
    return value


def load(path: Path | str) -> Dataset:
    """Read and check a whole dataset; DatasetError names the first bad file/line/field."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, None, None, "no such dataset file")
    servers: dict[str, int] = {}
    server_index = array("i")
    seconds = array("i")
    lines = array("q")
    metric_cols: tuple[str, ...] = ()
    values: dict[str, array] = {}
    line = 0
    try:
        with path.open("rb") as fh:
            reader = csv.reader(_bounded_lines(path, fh))
            header = next(reader, None)
            if header is None:
                raise DatasetError(path, None, None, "the file is empty (no header, no rows)")
            columns = _check_header(path, header)
            metric_cols = columns[2:]
            values = {c: array("d") for c in metric_cols}
            width = len(columns)
            for row in reader:
                line = reader.line_num
                if len(row) != width:
                    if not row:
                        raise DatasetError(path, line, None, "blank line")
                    field = columns[len(row)] if len(row) < width else None
                    raise DatasetError(path, line, field, f"expected {width} fields, got {len(row)}")
                sid = row[0].strip()
                if not sid:
                    raise DatasetError(path, line, "server_id", "empty server_id")
                try:
                    sec = parse_time_of_day(row[1].strip())
                except ValueError as exc:
                    raise DatasetError(path, line, "timestamp", str(exc)) from None
                for col, text in zip(metric_cols, row[2:]):
                    values[col].append(_parse_number(path, line, col, text.strip()))
                server_index.append(servers.setdefault(sid, len(servers)))
                seconds.append(sec)
                lines.append(line)
    except csv.Error as exc:
        raise DatasetError(path, line + 1, None, f"malformed CSV: {exc}") from None
    if not seconds:
        raise DatasetError(path, 2, None, "the file has a header but no rows")
    ds = Dataset(
        path=path,
        columns=columns,
        servers=tuple(servers),
        server_index=np.frombuffer(server_index, dtype=np.int32).copy(),
        seconds=np.frombuffer(seconds, dtype=np.int32).copy(),
        values={c: np.frombuffer(v, dtype=np.float64).copy() for c, v in values.items()},
    )
    _check_duplicates(ds, np.frombuffer(lines, dtype=np.int64))
    return ds


def _bounded_lines(path: Path, fh) -> Iterator[str]:
    """Yield the binary file's lines as text, one at a time, so a decoding error names its own line, and
    refuse a line too long to be a metrics row before it is held whole."""
    line = 0
    limit = MAX_LINE_BYTES
    while True:
        raw = fh.readline(limit)
        if not raw:
            return
        line += 1
        if len(raw) >= limit and not raw.endswith(b"\n"):
            raise DatasetError(path, line, None, f"line longer than {limit} bytes")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(path, line, None, f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line)")


def _check_duplicates(ds: Dataset, lines: np.ndarray) -> None:
    keys = ds.server_index.astype(np.int64) * SECONDS_PER_DAY + ds.seconds
    order = np.argsort(keys, kind="stable")
    dup = np.flatnonzero(np.diff(keys[order]) == 0)
    if dup.size:
        first, second = order[dup[0]], order[dup[0] + 1]
        sid = ds.servers[ds.server_index[first]]
        raise DatasetError(ds.path, int(lines[second]), "timestamp",
                           f"duplicate sample for server {sid!r} at {format_time_of_day(int(ds.seconds[first]))} "
                           f"(first seen on line {int(lines[first])})")
