"""The recorded metrics dataset: strict parsing, checking, and streaming by timestamp group.

The file is read once, row by row, and every row is checked before anything is sent, so a corrupt file
fails the producer before a single message leaves (nothing half-streamed). That check keeps only what does
not grow with the rows (server ids, a bitmap of seconds per server, where each time-ordered run of rows
starts), so the producer can then stream the file group by group, merging those runs, in memory that
stays flat as the file grows. The numpy columns (``values``, ``seconds``, ``server_index``) are still there
for the reference implementation and tests, read on first use.
"""

from __future__ import annotations

import csv
import heapq
import math
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

BASE_COLUMNS = ("server_id", "timestamp", "cpu_pct", "mem_pct")
NET_DISK_COLUMNS = ("net_in", "net_out", "disk_io")
PERCENT_FIELDS = ("cpu_pct", "mem_pct")
SECONDS_PER_DAY = 86_400
# A generous bound on one line (a real row is ~40 bytes); a longer one is corrupt input, not data.
MAX_LINE_BYTES = 8_000
# Streaming merges the file's time-ordered runs (a file sorted by server has one run per server). Past this
# many runs (a shuffled file) the rows are grouped in memory instead, as numpy columns.
MAX_STREAM_RUNS = 65_536
# Read buffers of all runs together stay within this, whatever the number of runs.
STREAM_BUFFER_BYTES = 4 * 1024 * 1024
# The duplicate check keeps, per server, a bit per second in chunks of this many seconds, made as needed
# (a server recorded for two hours holds two chunks, not a whole day).
SECONDS_PER_CHUNK = 4096


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
class Sample:
    """One row as the producer streams it: its server (index into Dataset.servers) and metric values."""

    server: int
    values: tuple[float, ...]  # in Dataset.metric_fields order


@dataclass(frozen=True)
class StreamedGroup:
    """All rows that share one dataset timestamp, in file order, read from the file as they are needed."""

    second: int
    samples: list[Sample]

    @property
    def original_ts(self) -> str:
        return format_time_of_day(self.second)


@dataclass(frozen=True)
class Run:
    """Rows ``[first_row, first_row + rows)``, in time order, starting at byte ``offset`` of the file."""

    offset: int
    end: int  # byte offset just past the run's last line
    first_row: int
    rows: int


@dataclass(frozen=True)
class Dataset:
    """A checked dataset: its shape and summary, and ways to read its rows (streamed or as columns)."""

    path: Path
    columns: tuple[str, ...]
    servers: tuple[str, ...]
    rows: int
    first_second: int
    seconds_count: int  # distinct timestamps, i.e. groups
    runs: tuple[Run, ...] | None  # None when the file cannot be streamed by runs (see MAX_STREAM_RUNS)

    @property
    def has_net_disk(self) -> bool:
        return all(c in self.columns for c in NET_DISK_COLUMNS)

    @property
    def metric_fields(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in ("server_id", "timestamp"))

    def group_count(self) -> int:
        return self.seconds_count

    @cached_property
    def _columns(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        servers = {sid: i for i, sid in enumerate(self.servers)}
        server_index = array("i")
        seconds = array("i")
        values = {c: array("d") for c in self.metric_fields}
        for _line, _offset, sid, sec, numbers in _read_rows(self.path):
            server_index.append(servers[sid])
            seconds.append(sec)
            for col, v in zip(self.metric_fields, numbers):
                values[col].append(v)
        return (np.frombuffer(server_index, dtype=np.int32).copy(), np.frombuffer(seconds, dtype=np.int32).copy(),
                {c: np.frombuffer(v, dtype=np.float64).copy() for c, v in values.items()})

    @property
    def server_index(self) -> np.ndarray:
        """int32 index into servers, per row (read from the file on first use)."""
        return self._columns[0]

    @property
    def seconds(self) -> np.ndarray:
        """int32 seconds since midnight, per row (read from the file on first use)."""
        return self._columns[1]

    @property
    def values(self) -> dict[str, np.ndarray]:
        """float64 per metric field, per row (read from the file on first use)."""
        return self._columns[2]

    def groups(self) -> Iterator[Group]:
        """Groups of rows by timestamp, in time order; rows keep their file order inside a group."""
        order = np.lexsort((np.arange(self.rows), self.seconds))
        secs = self.seconds[order]
        bounds = np.flatnonzero(np.diff(secs)) + 1
        start = 0
        for end in [*bounds.tolist(), self.rows]:
            yield Group(second=int(secs[start]), rows=order[start:end])
            start = end

    def stream_groups(self) -> Iterator[StreamedGroup]:
        """The same groups as ``groups()``, same order, but read from the file run by run as they are due,
        so memory does not grow with the file (falls back to the columns when the file has too many runs)."""
        if self.runs is None:
            server_index, _, values = self._columns
            cols = [values[c] for c in self.metric_fields]
            for g in self.groups():
                yield StreamedGroup(g.second, [Sample(int(server_index[r]), tuple(float(c[r]) for c in cols))
                                               for r in g.rows.tolist()])
            return
        servers = {sid: i for i, sid in enumerate(self.servers)}
        buffer = max(4096, min(1 << 16, STREAM_BUFFER_BYTES // max(1, len(self.runs))))
        fd = os.open(self.path, os.O_RDONLY)
        try:
            cursors = [_RunCursor(fd, run, buffer) for run in self.runs]
            heap = []
            for i, cur in enumerate(cursors):
                if cur.advance():
                    heap.append((cur.second, i))
            heapq.heapify(heap)
            while heap:
                second = heap[0][0]
                samples: list[Sample] = []
                while heap and heap[0][0] == second:
                    _, i = heapq.heappop(heap)
                    cur = cursors[i]
                    while True:  # this run's rows of this second, in file order
                        samples.append(Sample(servers[cur.server_id], cur.numbers))
                        if not cur.advance():
                            break
                        if cur.second != second:
                            heapq.heappush(heap, (cur.second, i))
                            break
                yield StreamedGroup(second, samples)
        finally:
            os.close(fd)


class _RunCursor:
    """Reads one run's lines with positioned reads, a small buffer at a time."""

    def __init__(self, fd: int, run: Run, buffer: int) -> None:
        self.fd, self.pos, self.end, self.buffer = fd, run.offset, run.end, buffer
        self.chunk = b""
        self.at = 0  # where the next line starts in chunk
        self.server_id = ""
        self.second = 0
        self.numbers: tuple[float, ...] = ()

    def _line(self) -> bytes | None:
        newline = self.chunk.find(b"\n", self.at)
        while newline < 0:
            if self.pos >= self.end:  # the file's last line may lack its newline
                line, self.chunk, self.at = self.chunk[self.at:], b"", 0
                return line or None
            more = os.pread(self.fd, min(self.buffer, self.end - self.pos), self.pos)
            if not more:
                raise OSError(f"file shrank while streaming (at byte {self.pos})")
            self.pos += len(more)
            self.chunk, self.at = self.chunk[self.at:] + more, 0
            newline = self.chunk.find(b"\n")
        line, self.at = self.chunk[self.at:newline], newline + 1
        return line

    def advance(self) -> bool:
        raw = self._line()
        if raw is None:
            return False
        fields = _split_row(raw.decode("utf-8"))
        self.server_id = fields[0].strip()
        self.second = parse_time_of_day(fields[1].strip())
        self.numbers = tuple(float(t.strip()) for t in fields[2:])
        return True


def _split_row(line: str) -> list[str]:
    """The fields of one already-checked line, as csv.reader reads them."""
    if line.endswith("\r"):
        line = line[:-1]
    if '"' in line:
        return next(csv.reader([line]))
    return line.split(",")


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
    """Read and check a whole dataset; DatasetError names the first bad file/line/field.

    Only the shape is kept (see the module docstring); rows are read again when streamed."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, None, None, "no such dataset file")
    servers: dict[str, int] = {}
    seen: list[dict[int, bytearray]] = []  # per server, a bit per second seen: duplicates without holding rows
    day = bytearray(SECONDS_PER_DAY)
    first_dup: tuple[int, int] | None = None  # smallest (server index, second) seen twice
    run_starts: list[tuple[int, int]] = []  # (byte offset, row index) where the time order restarts
    streamable = True
    previous = -1
    rows = 0
    end = 0
    reader = _Rows(path)
    columns = reader.columns
    for line, offset, sid, sec, _numbers in reader:
        index = servers.setdefault(sid, len(servers))
        if index == len(seen):
            seen.append({})
        chunk, at = divmod(sec, SECONDS_PER_CHUNK)
        bits = seen[index].get(chunk)
        if bits is None:
            bits = seen[index][chunk] = bytearray(SECONDS_PER_CHUNK // 8)
        byte, bit = at >> 3, 1 << (at & 7)
        if bits[byte] & bit:
            if first_dup is None or (index, sec) < first_dup:
                first_dup = (index, sec)
        else:
            bits[byte] |= bit
        day[sec] = 1
        if sec < previous or rows == 0:
            run_starts.append((offset, rows))
            if len(run_starts) > MAX_STREAM_RUNS:
                streamable = False
        streamable = streamable and reader.single_line
        previous = sec
        rows += 1
        end = reader.offset
    if not rows:
        raise DatasetError(path, 2, None, "the file has a header but no rows")
    if first_dup is not None:
        _raise_duplicate(path, tuple(servers)[first_dup[0]], first_dup[1])
    runs = None
    if streamable:
        bounds = [*run_starts[1:], (end, rows)]
        runs = tuple(Run(offset=o, end=bounds[i][0], first_row=r, rows=bounds[i][1] - r)
                     for i, (o, r) in enumerate(run_starts))
    return Dataset(path=path, columns=columns, servers=tuple(servers), rows=rows,
                   first_second=min(i for i, hit in enumerate(day) if hit), seconds_count=sum(day), runs=runs)


class _Rows:
    """Checked rows of a dataset file: (line, byte offset, server_id, second, metric values) each.

    The header is read and checked on construction; every row is checked as it is read, and the first bad
    one raises DatasetError naming its line and field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0  # byte offset just past the last line read
        self.single_line = True  # False once a row spans several lines (a quoted newline)
        self._fh = path.open("rb")
        self._line_start = 0
        self._reader = csv.reader(self._lines())
        try:
            header = next(self._reader, None)
        except csv.Error as exc:
            self._fh.close()
            raise DatasetError(path, 1, None, f"malformed CSV: {exc}") from None
        except BaseException:
            self._fh.close()
            raise
        if header is None:
            self._fh.close()
            raise DatasetError(path, None, None, "the file is empty (no header, no rows)")
        try:
            self.columns = _check_header(path, header)
        except BaseException:
            self._fh.close()
            raise

    def _lines(self) -> Iterator[str]:
        for raw in _bounded_lines(self.path, self._fh):
            self._line_start = self.offset
            self.offset += len(raw)
            yield raw

    def __iter__(self) -> Iterator[tuple[int, int, str, int, list[float]]]:
        path, reader = self.path, self._reader
        metric_cols = self.columns[2:]
        width = len(self.columns)
        line = 0  # as reported for a malformed-CSV error before the first row
        physical = 1  # header's line
        try:
            for row in reader:
                start = self._line_start if reader.line_num == physical + 1 else None
                if start is None:
                    self.single_line = False
                line = physical = reader.line_num
                if len(row) != width:
                    if not row:
                        raise DatasetError(path, line, None, "blank line")
                    field = self.columns[len(row)] if len(row) < width else None
                    raise DatasetError(path, line, field, f"expected {width} fields, got {len(row)}")
                sid = row[0].strip()
                if not sid:
                    raise DatasetError(path, line, "server_id", "empty server_id")
                try:
                    sec = parse_time_of_day(row[1].strip())
                except ValueError as exc:
                    raise DatasetError(path, line, "timestamp", str(exc)) from None
                numbers = [_parse_number(path, line, col, text.strip()) for col, text in zip(metric_cols, row[2:])]
                yield line, start if start is not None else -1, sid, sec, numbers
        except csv.Error as exc:
            raise DatasetError(path, line + 1, None, f"malformed CSV: {exc}") from None
        finally:
            self._fh.close()


def _read_rows(path: Path) -> Iterator[tuple[int, int, str, int, list[float]]]:
    yield from _Rows(path)


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


def _raise_duplicate(path: Path, sid: str, second: int) -> None:
    """Name the first two lines that hold (sid, second); only read again when a duplicate was seen."""
    lines = [line for line, _, s, sec, _ in _read_rows(path) if s == sid and sec == second][:2]
    raise DatasetError(path, lines[1], "timestamp",
                       f"duplicate sample for server {sid!r} at {format_time_of_day(second)} "
                       f"(first seen on line {lines[0]})")
