"""The recorded metrics dataset: strict parsing, checking, and streaming by timestamp group.

Timestamps come in one of two forms, one per dataset:
- time of day ``HH:MM:SS`` (the seed's). Without ``recording_start`` the file is one calendar day. With it,
  a time at or after recording_start's time of day lies on recording_start's date and an earlier one on the
  next day, so a recording from 20:52 to 02:30 reads in order whatever the row order. Times of day are UTC
  (an offset in recording_start is converted to UTC first).
- date-time ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DDTHH:MM:SS``, optionally ending in ``Z`` or ``+HH:MM`` /
  ``-HH:MM``, converted to UTC; without a suffix it is UTC. Any number of days.
Whole seconds only; a fraction of a second, a bad date, or a mix of the two forms is refused.

Every row lies on one timeline of int seconds (``Dataset.seconds``): the UTC epoch second for date-times,
seconds since midnight of the first day for times of day (so 0..86399 for one day, as the seed had).
``Dataset.epoch_offset`` turns a timeline second into an epoch second; ``format_second`` gives the text the
output files use.

A dataset may be several files (a folder or a glob, see ``resolve_files``): one form, the same metric columns,
merged in timeline order; a sample duplicated across files is an error naming both.

Files as monitoring exports and spreadsheets write them: columns are found by their header name, in any order
(surrounding spaces in a name do not count); columns the replay does not know (a ``region`` label, pandas'
unnamed index) are ignored and counted (``Dataset.ignored_columns``), never silently; a UTF-8 byte-order mark,
CRLF line ends and blank lines at the end of a file are accepted. A missing or duplicated required column, a
blank line followed by more rows, and a row with the wrong number of fields stay errors. A file named
``*.csv.gz``, ``*.csv.bz2``, ``*.csv.xz`` or ``*.csv.zst`` is decompressed as it is read (include/compressed.py).

The files are read once, row by row, and every row is checked before anything is sent, so a corrupt file
fails the producer before a single message leaves (nothing half-streamed). That check keeps only what does
not grow with the rows (server ids, a bitmap of seconds per server, where each time-ordered run of rows
starts), so the producer can then stream the files group by group, merging those runs, in memory that
stays flat as the files grow. A compressed file whose rows are one time-ordered run is streamed front to back
as it decompresses; one with several runs (sorted by server, as the real day is) cannot be read at several
places at once, so streaming first unpacks it into a temporary file that is removed at the end. The numpy
columns (``values``, ``seconds``, ``server_index``) are still there for the reference implementation and
tests, read on first use.

``check`` is the same pass without stopping at the first error: a summary of the dataset and its first errors
(``DatasetCheck``), for `make check-dataset` and the DAG's first task.
"""

from __future__ import annotations

import csv
import glob
import heapq
import logging
import math
import os
import re
import tempfile
import time
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np

from include import compressed

log = logging.getLogger(__name__)

BASE_COLUMNS = ("server_id", "timestamp", "cpu_pct", "mem_pct")
NET_DISK_COLUMNS = ("net_in", "net_out", "disk_io")
KNOWN_COLUMNS = BASE_COLUMNS + NET_DISK_COLUMNS
PERCENT_FIELDS = ("cpu_pct", "mem_pct")
SECONDS_PER_DAY = 86_400
# A generous bound on one line (a real row is ~40 bytes); a longer one is corrupt input, not data.
MAX_LINE_BYTES = 8_000
# Streaming merges the files' time-ordered runs (a file sorted by server has one run per server). Past this
# many runs (a shuffled file) the rows are grouped in memory instead, as numpy columns.
MAX_STREAM_RUNS = 65_536
# Read buffers of all runs together stay within this, whatever the number of runs.
STREAM_BUFFER_BYTES = 4 * 1024 * 1024
# Streaming keeps at most this many files open at once: a folder may hold more files than the fd limit.
MAX_OPEN_FILES = 64
# ... and at most this many compressed files decompressing at once (an xz reader holds its 8 MiB dictionary).
MAX_OPEN_STREAMS = 4
# How many errors ``check`` keeps (it counts them all).
CHECK_ERRORS = 10
# The duplicate check keeps, per server, a bit per second in chunks of this many seconds, made as needed
# (a server recorded for two hours holds two chunks, not a whole day; a year holds only the chunks it uses).
SECONDS_PER_CHUNK = 4096
GLOB_CHARS = "*?["

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
TIME_OF_DAY_FORM = "a time of day HH:MM:SS"
DATE_TIME_FORM = "a date-time YYYY-MM-DD HH:MM:SS (or with T), optionally ending in Z or +HH:MM/-HH:MM"


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


# --- timestamps -------------------------------------------------------------------------------------------

def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # isdigit alone takes '²' and non-ASCII digits


def parse_time_of_day(text: str) -> int:
    """Seconds since midnight of an ``HH:MM:SS`` time; ValueError if it is not one."""
    parts = text.split(":")
    if len(parts) != 3 or not all(len(p) == 2 and _digits(p) for p in parts):
        raise ValueError(f"{text!r} is not {TIME_OF_DAY_FORM}")
    h, m, s = (int(p) for p in parts)
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"{text!r} is not {TIME_OF_DAY_FORM}")
    return h * 3600 + m * 60 + s


def format_time_of_day(seconds: int) -> str:
    seconds %= SECONDS_PER_DAY
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


_DAYS: dict[str, int] = {}  # 'YYYY-MM-DD' -> days since 1970-01-01: a recording holds few dates, parse each once
_DATES: dict[int, str] = {}  # and back


def _epoch_day(text: str, whole: str) -> int:
    days = _DAYS.get(text)
    if days is None:
        if not (len(text) == 10 and text[4] == text[7] == "-" and _digits(text[:4]) and _digits(text[5:7])
                and _digits(text[8:])):
            raise ValueError(f"{whole!r} is not {DATE_TIME_FORM}")
        try:
            day = date(int(text[:4]), int(text[5:7]), int(text[8:]))
        except ValueError as exc:
            raise ValueError(f"{whole!r} is not a valid date ({exc})") from None
        if len(_DAYS) >= 100_000:
            _DAYS.clear()
        days = _DAYS[text] = day.toordinal() - _EPOCH_ORDINAL
    return days


def _utc_offset(tail: str, whole: str) -> int:
    """Seconds east of UTC of a ``+HH:MM``/``-HH:MM`` suffix."""
    if tail[:1] in (".", ","):
        raise ValueError(f"{whole!r} has a fraction of a second; timestamps are whole seconds")
    if not (len(tail) == 6 and tail[0] in "+-" and tail[3] == ":" and _digits(tail[1:3]) and _digits(tail[4:])):
        raise ValueError(f"{whole!r} is not {DATE_TIME_FORM}")
    hours, minutes = int(tail[1:3]), int(tail[4:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"{whole!r} has an impossible UTC offset {tail!r} (at most 23:59)")
    return (hours * 3600 + minutes * 60) * (1 if tail[0] == "+" else -1)


def parse_datetime(text: str) -> int:
    """UTC epoch second of ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DDTHH:MM:SS``, optionally ending in ``Z`` or
    ``+HH:MM``/``-HH:MM`` (UTC without); ValueError if it is not one or has a fraction of a second."""
    if len(text) < 19 or text[10] not in "T ":
        raise ValueError(f"{text!r} is not {DATE_TIME_FORM}")
    days = _epoch_day(text[:10], text)
    try:
        second = days * SECONDS_PER_DAY + parse_time_of_day(text[11:19])
    except ValueError:
        raise ValueError(f"{text!r} is not {DATE_TIME_FORM}") from None
    tail = text[19:]
    if tail and tail != "Z":
        second -= _utc_offset(tail, text)
    return second


def format_datetime(second: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) of an epoch second."""
    days, time_of_day = divmod(second, SECONDS_PER_DAY)
    day = _DATES.get(days)
    if day is None:
        if len(_DATES) >= 100_000:
            _DATES.clear()
        day = _DATES[days] = date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
    return f"{day} {format_time_of_day(time_of_day)}"


def format_second(second: int, dated: bool) -> str:
    """A timeline second as the output files write it: ``YYYY-MM-DD HH:MM:SS`` (UTC) for a dated dataset,
    ``HH:MM:SS`` (modulo a day) for a time-of-day one."""
    return format_datetime(second) if dated else format_time_of_day(second)


def _looks_dated(text: str) -> bool:
    return len(text) >= 10 and text[4] == "-"


_FRACTIONAL_TIME = re.compile(r"\d\d:\d\d:\d\d[.,]\d*")
_LOOKS_TIME = re.compile(r"\d\d?:\d\d?:\d\d?")
_RECORDING_START = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d)(:\d\d)?([.,]\d*)?(Z|[+-]\d\d:\d\d)?")


def parse_recording_start(text: str | None) -> datetime | None:
    """The ``recording_start`` param: None when empty, else an aware UTC datetime.

    Accepts ``YYYY-MM-DDTHH:MM[:SS]`` (or a space for T; seconds may be left out, as a browser's date-time
    field leaves them), optionally ending in ``Z`` or ``+HH:MM``/``-HH:MM`` (UTC without). ValueError, naming
    the param, for anything else or a fraction of a second."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    match = _RECORDING_START.fullmatch(text)
    if match and match[4] is not None:
        raise ValueError(f"recording_start: {text!r} has a fraction of a second; give whole seconds")
    if not match:
        raise ValueError(f"recording_start: {text!r} is not an ISO date-time YYYY-MM-DDTHH:MM[:SS], "
                         "optionally ending in Z or +HH:MM/-HH:MM")
    date_text, time_text, tail = match[1], match[2] + (match[3] or ":00"), match[5] or "Z"
    try:
        second = _epoch_day(date_text, text) * SECONDS_PER_DAY
        second -= 0 if tail == "Z" else _utc_offset(tail, text)
    except ValueError as exc:
        raise ValueError(f"recording_start: {exc}") from None
    try:
        second += parse_time_of_day(time_text)
    except ValueError:
        raise ValueError(f"recording_start: {text!r} has no time of day {time_text!r}") from None
    return datetime.fromtimestamp(second, timezone.utc)


def _as_utc(recording_start: datetime | str | None) -> datetime | None:
    if recording_start is None or isinstance(recording_start, str):
        return parse_recording_start(recording_start)
    if recording_start.microsecond:
        raise ValueError(f"recording_start: {recording_start.isoformat()} has a fraction of a second; "
                         "give whole seconds")
    if recording_start.tzinfo is None:
        return recording_start.replace(tzinfo=timezone.utc)
    return recording_start.astimezone(timezone.utc)


def _midnight_epoch(moment: datetime) -> int:
    """Epoch second of midnight UTC of ``moment``'s UTC date (a naive ``moment`` is UTC)."""
    utc = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return (utc.date().toordinal() - _EPOCH_ORDINAL) * SECONDS_PER_DAY


def _timeline(dated: bool, recording_start: datetime | None) -> Callable[[str], int]:
    """Timestamp text -> timeline second, for a dataset of this form (recording_start already UTC)."""
    if dated:
        return parse_datetime
    if recording_start is None:
        return parse_time_of_day
    start = recording_start.hour * 3600 + recording_start.minute * 60 + recording_start.second

    def after_start(text: str) -> int:
        second = parse_time_of_day(text)
        return second if second >= start else second + SECONDS_PER_DAY

    return after_start


class _Clock:
    """Reads the timestamps of a dataset's files onto one timeline: the first row fixes the form (when it is
    not known yet), and a row of the other form is named as such, with the row that fixed it."""

    def __init__(self, recording_start: datetime | None, dated: bool | None = None) -> None:
        self.recording_start = recording_start
        self.dated = dated
        self.first: tuple[Path, int, str] | None = None
        self.parse = None if dated is None else _timeline(dated, recording_start)

    def fix(self, path: Path, line: int, text: str) -> Callable[[str], int]:
        dated = _looks_dated(text)
        if dated and self.recording_start is not None:
            raise DatasetError(path, line, "timestamp", f"{text!r} carries a date, so recording_start "
                               f"({self.recording_start.isoformat()}) does not apply: recording_start places "
                               "times of day HH:MM:SS only; leave it empty for dated recordings")
        self.dated, self.first = dated, (path, line, text)
        self.parse = _timeline(dated, self.recording_start)
        return self.parse

    def error(self, path: Path, line: int, text: str, exc: ValueError) -> DatasetError:
        """The error for a timestamp the parser refused."""
        other = None
        if self.dated and _LOOKS_TIME.fullmatch(text):
            other = TIME_OF_DAY_FORM
        elif not self.dated and _looks_dated(text):
            other = "a date-time"
        elif not self.dated and _FRACTIONAL_TIME.fullmatch(text):
            return DatasetError(path, line, "timestamp",
                                f"{text!r} has a fraction of a second; timestamps are whole seconds")
        if other is None or self.first is None:
            return DatasetError(path, line, "timestamp", str(exc))
        first_path, first_line, first_text = self.first
        where = f"line {first_line}" if first_path == path else f"{first_path}, line {first_line}"
        form = "a date-time" if self.dated else TIME_OF_DAY_FORM
        return DatasetError(path, line, "timestamp",
                            f"{text!r} is {other}, but {where} ({first_text!r}) is {form}: a dataset (all its "
                            "files) uses one timestamp form")


# --- records --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    """All rows that share one timeline second, in file order (files in name order)."""

    second: int
    rows: np.ndarray  # row indices into the Dataset columns

    @property
    def original_ts(self) -> str:
        """The time of day (``HH:MM:SS``) of the group; for a dated dataset use ``Dataset.format_second``."""
        return format_time_of_day(self.second)


@dataclass(frozen=True)
class Sample:
    """One row as the producer streams it: its server (index into Dataset.servers), its metric values and its
    timestamp exactly as the file has it (surrounding blanks removed)."""

    server: int
    values: tuple[float, ...]  # in Dataset.metric_fields order
    original_ts: str


@dataclass(frozen=True)
class StreamedGroup:
    """All rows that share one timeline second, in file order, read from the files as they are needed."""

    second: int
    samples: list[Sample]

    @property
    def original_ts(self) -> str:
        """The first sample's timestamp text (the same for every sample of a time-of-day dataset; a dated one
        may write one second in several ways, each sample keeps its own)."""
        return self.samples[0].original_ts


@dataclass(frozen=True)
class Run:
    """Rows ``[first_row, first_row + rows)`` (dataset row numbers), in time order, starting at byte
    ``offset`` of file ``files[file]``."""

    offset: int
    end: int  # byte offset just past the run's last line
    first_row: int
    rows: int
    file: int = 0
    first_second: int = 0  # the timeline seconds of its first and last rows
    last_second: int = 0


@dataclass(frozen=True)
class Layout:
    """Where one file's columns are: the position of each of ``columns`` (server_id, timestamp, then the metrics
    in ``Dataset.metric_fields`` order) in the file's ``names`` (its header, stripped), and the columns the
    replay ignores, named as reports show them."""

    columns: tuple[str, ...]
    positions: tuple[int, ...]
    names: tuple[str, ...]
    ignored: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Dataset:
    """A checked dataset: its shape and summary, its timeline, and ways to read its rows (streamed or as
    columns). Row numbers run through the files in order."""

    files: tuple[Path, ...]
    columns: tuple[str, ...]
    servers: tuple[str, ...]
    rows: int
    first_second: int  # earliest timeline second
    last_second: int  # latest timeline second
    seconds_count: int  # distinct timeline seconds, i.e. groups
    runs: tuple[Run, ...] | None  # None when the files cannot be streamed by runs (see MAX_STREAM_RUNS)
    dated: bool = False  # date-time timestamps (timeline = epoch seconds) rather than times of day
    recording_start: datetime | None = None  # UTC; only for time-of-day datasets
    layouts: tuple[Layout, ...] = ()  # per file, where its columns are
    # Columns in the files that the replay does not know -> how many values they held (all ignored).
    ignored_columns: dict[str, int] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The file, or for several files the folder that holds them (``files`` lists them)."""
        if len(self.files) == 1:
            return self.files[0]
        return Path(os.path.commonpath([str(f.parent) for f in self.files]))

    @property
    def has_net_disk(self) -> bool:
        return all(c in self.columns for c in NET_DISK_COLUMNS)

    @property
    def metric_fields(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in ("server_id", "timestamp"))

    def group_count(self) -> int:
        return self.seconds_count

    def epoch_offset(self, replay_started: datetime) -> int:
        """What to add to a timeline second to get its UTC epoch second: 0 for a dated dataset; for a
        time-of-day one, midnight UTC of recording_start's date, or without it of ``replay_started``'s UTC
        date (a naive datetime is taken as UTC)."""
        if self.dated:
            return 0
        return _midnight_epoch(self.recording_start or replay_started)

    def format_second(self, second: int) -> str:
        """See the module function ``format_second``."""
        return format_second(second, self.dated)

    def _clock(self) -> _Clock:
        return _Clock(self.recording_start, self.dated)

    @cached_property
    def _columns(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray, list[str]]:
        servers = {sid: i for i, sid in enumerate(self.servers)}
        server_index = array("i")
        seconds = array("q")
        values = {c: array("d") for c in self.metric_fields}
        texts: dict[str, int] = {}  # timestamp texts repeat across servers: keep each once
        text_index = array("i")
        clock = self._clock()
        for path in self.files:
            for _line, _offset, sid, sec, numbers, text in _Rows(path, clock):
                server_index.append(servers[sid])
                seconds.append(sec)
                text_index.append(texts.setdefault(text, len(texts)))
                for col, v in zip(self.metric_fields, numbers):
                    values[col].append(v)
        return (np.frombuffer(server_index, dtype=np.int32).copy(), np.frombuffer(seconds, dtype=np.int64).copy(),
                {c: np.frombuffer(v, dtype=np.float64).copy() for c, v in values.items()},
                np.frombuffer(text_index, dtype=np.int32).copy(), list(texts))

    @property
    def server_index(self) -> np.ndarray:
        """int32 index into servers, per row (read from the files on first use)."""
        return self._columns[0]

    @property
    def seconds(self) -> np.ndarray:
        """int64 timeline second, per row (read from the files on first use): the UTC epoch second for a dated
        dataset; for a time-of-day one, seconds since midnight of the first day (0..86399 without
        recording_start, the next day's rows +86400 with it)."""
        return self._columns[1]

    @property
    def values(self) -> dict[str, np.ndarray]:
        """float64 per metric field, per row (read from the files on first use)."""
        return self._columns[2]

    def groups(self) -> Iterator[Group]:
        """Groups of rows by timeline second, in time order; rows keep their file order inside a group."""
        order = np.lexsort((np.arange(self.rows), self.seconds))
        secs = self.seconds[order]
        bounds = np.flatnonzero(np.diff(secs)) + 1
        start = 0
        for end in [*bounds.tolist(), self.rows]:
            yield Group(second=int(secs[start]), rows=order[start:end])
            start = end

    def stream_groups(self) -> Iterator[StreamedGroup]:
        """The same groups as ``groups()``, same order, but read from the files run by run as they are due,
        so memory does not grow with the files (falls back to the columns when there are too many runs)."""
        if self.runs is None:
            server_index, _, values, text_index, texts = self._columns
            cols = [values[c] for c in self.metric_fields]
            for g in self.groups():
                yield StreamedGroup(g.second, [Sample(int(server_index[r]), tuple(float(c[r]) for c in cols),
                                                      texts[text_index[r]]) for r in g.rows.tolist()])
            return
        servers = {sid: i for i, sid in enumerate(self.servers)}
        buffer = max(4096, min(1 << 16, STREAM_BUFFER_BYTES // max(1, len(self.runs))))
        files = _OpenFiles(self.files, self.runs)
        parse = _Memo(self._clock().parse)
        try:
            cursors = [_RunCursor(files, run, buffer, parse, self.layouts[run.file].positions) for run in self.runs]
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
                        samples.append(Sample(servers[cur.server_id], cur.numbers, cur.text))
                        if not cur.advance():
                            break
                        if cur.second != second:
                            heapq.heappush(heap, (cur.second, i))
                            break
                yield StreamedGroup(second, samples)
        finally:
            files.close()


class _OpenFiles:
    """Positioned reads from a dataset's files, keeping at most MAX_OPEN_FILES open (least recently read
    closed first).

    A compressed file cannot be read at a position without decompressing what comes before. One that
    ``front_to_back`` allows is read as a stream (a read behind the stream's position starts it again); any
    other is unpacked once, on its first read, into a temporary folder removed by ``close``."""

    def __init__(self, paths: tuple[Path, ...], runs: Sequence[Run] = ()) -> None:
        self.paths = paths
        self.fds: OrderedDict[int, int] = OrderedDict()
        self.streams: OrderedDict[int, list] = OrderedDict()  # file -> [decompressing stream, its position]
        self.front_to_back = front_to_back(paths, runs)
        self.unpacked: dict[int, Path] = {}
        self.spool: tempfile.TemporaryDirectory | None = None

    def pread(self, file: int, size: int, pos: int) -> bytes:
        if file in self.front_to_back:
            return self._stream_read(file, size, pos)
        fd = self.fds.get(file)
        if fd is None:
            if len(self.fds) >= MAX_OPEN_FILES:
                os.close(self.fds.popitem(last=False)[1])
            fd = self.fds[file] = os.open(self._readable(file), os.O_RDONLY)
        else:
            self.fds.move_to_end(file)
        return os.pread(fd, size, pos)

    def _readable(self, file: int) -> Path:
        """The file itself, or for a compressed one its unpacked copy (made now if need be)."""
        path = self.paths[file]
        kind = compressed.compression(path)
        if kind is None:
            return path
        if file not in self.unpacked:
            if self.spool is None:
                self.spool = tempfile.TemporaryDirectory(prefix="metrics-replay-unpacked-")
            target = Path(self.spool.name) / f"{file}.csv"
            started = time.monotonic()
            size = compressed.decompress_to(path, target)
            log.info("Unpacked %s (%s; its rows are not in one time order, so they are read at several places "
                     "at once) into a temporary file: %d bytes in %.1f s, removed when the replay ends", path,
                     kind, size, time.monotonic() - started)
            self.unpacked[file] = target
        return self.unpacked[file]

    def _stream_read(self, file: int, size: int, pos: int) -> bytes:
        entry = self.streams.get(file)
        if entry is not None and entry[1] > pos:
            entry[0].close()
            del self.streams[file]
            entry = None
        if entry is None:
            if len(self.streams) >= MAX_OPEN_STREAMS:
                self.streams.popitem(last=False)[1][0].close()
            entry = self.streams[file] = [compressed.open_stream(self.paths[file]), 0]
        else:
            self.streams.move_to_end(file)
        stream = entry[0]
        while entry[1] < pos:  # skip to pos (after a restart: what was read before)
            skipped = stream.read(min(compressed.READ_SIZE, pos - entry[1]))
            if not skipped:
                return b""
            entry[1] += len(skipped)
        data = stream.read(size)
        entry[1] += len(data)
        return data

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.popitem()[1])
        while self.streams:
            self.streams.popitem()[1][0].close()
        if self.spool is not None:
            self.spool.cleanup()
            self.spool = None


def front_to_back(paths: Sequence[Path], runs: Sequence[Run]) -> frozenset[int]:
    """The compressed files that streaming reads front to back as they decompress: those whose rows are one
    time-ordered run overlapping no other such file's in time, so that only one or two of them are being read
    at any moment. The merge reads any other compressed file at as many places as it has runs: that one is
    unpacked first (see _OpenFiles)."""
    by_file: dict[int, list[Run]] = {}
    for run in runs:
        by_file.setdefault(run.file, []).append(run)
    single = sorted((rs[0].first_second, rs[0].last_second, f) for f, rs in by_file.items()
                    if len(rs) == 1 and compressed.compression(paths[f]) is not None)
    chosen = set()
    reach = None  # the latest last second of the files before
    for i, (first, last, f) in enumerate(single):
        before_ok = reach is None or reach <= first
        after_ok = i + 1 == len(single) or last <= single[i + 1][0]
        if before_ok and after_ok:
            chosen.add(f)
        reach = last if reach is None else max(reach, last)
    return frozenset(chosen)


class _Memo(dict):
    """A timestamp parser with its answers kept: every server's row of a second carries the same text, so
    streaming parses each text once, not once a row (the producer's time, bench row 1). At most MEMO_SIZE kept."""

    MEMO_SIZE = 1 << 16

    def __init__(self, parse: Callable[[str], int]) -> None:
        super().__init__()
        self.parse = parse

    def __missing__(self, text: str) -> int:
        if len(self) >= self.MEMO_SIZE:
            self.clear()
        second = self[text] = self.parse(text)
        return second


class _RunCursor:
    """Reads one run's lines with positioned reads, a small buffer at a time."""

    def __init__(self, files: _OpenFiles, run: Run, buffer: int, parse: _Memo,
                 positions: tuple[int, ...]) -> None:
        self.files, self.file, self.pos, self.end, self.buffer = files, run.file, run.offset, run.end, buffer
        self.parse = parse
        self.sid_at, self.ts_at, *metrics_at = positions
        self.metrics_at = tuple(metrics_at)
        self.chunk = b""
        self.at = 0  # where the next line starts in chunk
        self.server_id = ""
        self.second = 0
        self.text = ""
        self.numbers: tuple[float, ...] = ()

    def _line(self) -> bytes | None:
        newline = self.chunk.find(b"\n", self.at)
        while newline < 0:
            if self.pos >= self.end:  # the file's last line may lack its newline
                line, self.chunk, self.at = self.chunk[self.at:], b"", 0
                return line or None
            more = self.files.pread(self.file, min(self.buffer, self.end - self.pos), self.pos)
            if not more:
                raise OSError(f"{self.files.paths[self.file]} shrank while streaming (at byte {self.pos})")
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
        self.server_id = fields[self.sid_at].strip()
        self.text = fields[self.ts_at].strip()
        self.second = self.parse[self.text]
        self.numbers = tuple([float(fields[i]) for i in self.metrics_at])  # float() ignores surrounding spaces
        return True


def _split_row(line: str) -> list[str]:
    """The fields of one already-checked line, as csv.reader reads them."""
    if line.endswith("\r"):
        line = line[:-1]
    if '"' in line:
        return next(csv.reader([line]))
    return line.split(",")


# --- files ------------------------------------------------------------------------------------------------

def resolve_files(path: str | os.PathLike[str], resolve: Callable[[str], Path] = Path) -> list[Path]:
    """The files a ``dataset_path`` names: a file (itself, as a one-item list, whether or not it exists:
    ``load`` names a missing one), a folder (its ``*.csv`` files, compressed ones too -- ``*.csv.gz``,
    ``*.csv.bz2``, ``*.csv.xz``, ``*.csv.zst`` -- sorted by name), or a glob pattern such as
    ``data/recordings/*.csv`` (its matching files, sorted by path). ``resolve`` first turns the text into a
    path (e.g. include.paths.resolve: relative to the project root).

    Nothing is confined here: the caller confines each file returned. A folder or glob that names no file is
    a DatasetError naming the path."""
    text = os.fspath(path)
    base = resolve(text)
    if base.is_dir():
        files = sorted((p for p in base.iterdir()  # hidden files left out, as a shell's * leaves them
                        if compressed.is_recording_name(p.name) and not p.name.startswith(".") and p.is_file()),
                       key=lambda p: p.name)
        if not files:
            raise DatasetError(text, None, None, "the folder holds no *.csv file (nor *.csv.gz, *.csv.bz2, "
                               "*.csv.xz, *.csv.zst)")
        return files
    if base.exists() or not any(ch in text for ch in GLOB_CHARS):
        return [base]
    files = sorted((Path(p) for p in glob.glob(str(base)) if os.path.isfile(p)), key=str)
    if not files:
        raise DatasetError(text, None, None, "no file matches this pattern")
    return files


def _check_header(path: Path, header: list[str]) -> Layout:
    """The file's Layout from its header: columns by name, in any order; unknown ones ignored."""
    names = tuple(c.strip() for c in header)
    if not any(names):
        raise DatasetError(path, 1, None, "blank first line: the first line must be the header naming the columns")
    where: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        where.setdefault(name, []).append(i)
    for name in KNOWN_COLUMNS:
        at = where.get(name, ())
        if len(at) > 1:
            raise DatasetError(path, 1, name, f"duplicated column (columns {' and '.join(str(i + 1) for i in at)}): "
                               "which one holds the values is ambiguous")
    shown = ",".join(names) if len(names) <= 20 else ",".join(names[:20]) + ",..."
    for name in BASE_COLUMNS:
        if name not in where:
            raise DatasetError(path, 1, name, f"missing column (the header names {shown}; required: "
                               f"{','.join(BASE_COLUMNS)}, in any order)")
    present = [c for c in NET_DISK_COLUMNS if c in where]
    if present and len(present) != len(NET_DISK_COLUMNS):
        missing = next(c for c in NET_DISK_COLUMNS if c not in where)
        raise DatasetError(path, 1, missing, "missing column (net_in, net_out and disk_io come together)")
    columns = BASE_COLUMNS + (NET_DISK_COLUMNS if present else ())
    unknown = [i for i, name in enumerate(names) if name not in KNOWN_COLUMNS]
    repeats = Counter(names[i] for i in unknown)
    # Named as written; an unnamed column (pandas' index) or a name written twice also by its position.
    ignored = tuple(names[i] if names[i] and repeats[names[i]] == 1 else f"{names[i] or '(unnamed)'} (column {i + 1})"
                    for i in unknown)
    return Layout(columns=columns, positions=tuple(where[c][0] for c in columns), names=names, ignored=ignored)


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


class _Problems:
    """Where the errors a read finds go: raised at once (``keep`` None: load), or counted and the first
    ``keep`` of them kept (check)."""

    def __init__(self, keep: int | None = None) -> None:
        self.keep = keep
        self.found: list[DatasetError] = []
        self.count = 0

    def add(self, error: DatasetError) -> None:
        if self.keep is None:
            raise error
        self.count += 1
        if len(self.found) < self.keep:
            self.found.append(error)


def _dataset_files(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(path, (str, os.PathLike)):
        return resolve_files(path)
    files = [Path(p) for p in path]
    if not files:
        raise DatasetError("dataset_path", None, None, "no dataset file given")
    return files


def load(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
         recording_start: datetime | str | None = None) -> Dataset:
    """Read and check a whole dataset; DatasetError names the first bad file/line/field.

    ``path`` is a file, a folder or a glob (expanded by ``resolve_files``, relative to the working folder),
    or a list of files taken as they are (what a caller that confines each file passes).

    ``recording_start`` (an aware datetime, a naive one taken as UTC, or the param's text) places the rows of
    a time-of-day dataset (see the module docstring). A dated dataset refuses it, naming its first row: its
    dates already say when, and silently ignoring a param the user set would hide a mistake. ValueError
    (naming recording_start) for a fraction of a second or bad text.

    Only the shape is kept (see the module docstring); rows are read again when streamed."""
    files = _dataset_files(path)
    scan = _Scan(files, _Clock(_as_utc(recording_start)), _Problems())
    scan.run()
    return scan.dataset()


@dataclass(frozen=True)
class CheckedFile:
    """One file as ``check`` read it: what was accepted in it beside plain CSV, and its good rows."""

    path: Path
    compression: str | None  # gzip, bzip2, xz, zstd; None for a plain file
    bom: bool  # began with a UTF-8 byte-order mark
    crlf: bool  # CRLF line ends (judged by the header line)
    trailing_blank_lines: int
    rows: int

    def describe(self) -> str:
        notes = [f"{self.compression}-compressed"] if self.compression else []
        notes += ["UTF-8 BOM"] if self.bom else []
        notes += ["CRLF line ends"] if self.crlf else []
        if self.trailing_blank_lines:
            notes.append(f"{self.trailing_blank_lines} blank line{'s' if self.trailing_blank_lines > 1 else ''} "
                         "at the end, ignored")
        return f"{os.path.normpath(self.path)}: {self.rows:,} rows" + (f" ({', '.join(notes)})" if notes else "")


@dataclass(frozen=True)
class DatasetCheck:
    """What ``check`` found: the dataset's shape over its good rows, and its first errors (all counted)."""

    given: str  # the dataset path as given
    files: tuple[CheckedFile, ...]
    rows: int
    servers: int
    groups: int
    first: str | None  # the earliest and latest timestamps, as the outputs write them
    last: str | None
    span_seconds: int | None
    dated: bool | None  # None when no row was read
    time_forms: dict[str, int]  # timestamp form (YYYY-MM-DDTHH:MM:SSZ, HH:MM:SS...) -> rows written so
    metric_columns: tuple[str, ...]
    ignored_columns: dict[str, int]  # column -> values ignored
    errors: tuple[DatasetError, ...]  # the first ones, in the order found
    error_count: int
    seconds: float  # how long the check took

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def lines(self) -> list[str]:
        """The summary as a person reads it, one line each."""
        out = [f"dataset: {self.given} ({len(self.files)} file{'' if len(self.files) == 1 else 's'})"]
        out += [f"  {f.describe()}" for f in self.files]
        out.append(f"rows: {self.rows:,}" + (" (good rows only)" if not self.ok else ""))
        out.append(f"servers: {self.servers:,}")
        if self.first is not None:
            out.append(f"time span: {self.first} to {self.last} ({_duration(self.span_seconds or 0)}), "
                       + ("dated (UTC)" if self.dated else "times of day"))
        else:
            out.append("time span: none (no good row)")
        forms = ", ".join(f"{form} ({n:,} rows)" for form, n in self.time_forms.items())
        out.append(f"timestamp forms: {forms or 'none'}")
        out.append(f"groups (distinct timestamps): {self.groups:,}")
        net_disk = all(c in self.metric_columns for c in NET_DISK_COLUMNS)
        out.append(f"metric columns: {', '.join(self.metric_columns) or 'none'}"
                   + ("" if net_disk or not self.metric_columns else " (no net_in, net_out, disk_io: "
                      "no NET/DISK output)"))
        ignored = ", ".join(f"{name} ({n:,} values)" for name, n in self.ignored_columns.items())
        out.append(f"columns ignored: {ignored or 'none'}")
        if self.ok:
            out.append(f"errors: none; checked in {self.seconds:.1f} s, nothing sent")
        else:
            shown = len(self.errors)
            out.append(f"errors: {self.error_count:,}" + (f" (the first {shown})" if shown < self.error_count else "")
                       + f"; checked in {self.seconds:.1f} s, nothing sent")
            out += [f"  {e}" for e in self.errors]
        return out


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, SECONDS_PER_DAY)
    text = f"{rest // 3600:d} h {rest % 3600 // 60:02d} min {rest % 60:02d} s"
    return f"{days} d {text}" if days else text


def _form_text(key: tuple[str, str], dated: bool) -> str:
    """A timestamp form for a person: HH:MM:SS, or YYYY-MM-DD HH:MM:SS with its T and its suffix as written."""
    separator, suffix = key
    if not dated:
        return "HH:MM:SS"
    if suffix not in ("", "Z"):
        suffix = suffix[0] + "HH:MM" if not re.fullmatch(r"[+-]\d\d:\d\d", suffix) else suffix
    return f"YYYY-MM-DD{separator}HH:MM:SS{suffix}"


def check(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
          recording_start: datetime | str | None = None, max_errors: int = CHECK_ERRORS,
          name: str | None = None) -> DatasetCheck:
    """The same read as ``load``, sending nothing anywhere, but going on past errors: the dataset's summary
    and its first ``max_errors`` errors (all counted). A file whose header, bytes or compressed stream is bad
    is left after its error; a bad row is skipped and the next one read. ``name``: how the summary names the
    dataset (default: ``path``). ValueError (naming recording_start) for a recording_start that is no
    date-time."""
    started = time.monotonic()
    start = _as_utc(recording_start)
    problems = _Problems(max_errors)
    given = name or (os.fspath(path) if isinstance(path, (str, os.PathLike))
                     else ", ".join(os.fspath(p) for p in path))
    try:
        files = _dataset_files(path)
    except DatasetError as exc:
        problems.add(exc)
        files = []
    scan = _Scan(files, _Clock(start), problems)
    scan.run()
    first = last = span = None
    groups = 0
    if scan.rows:
        first_second, last_second, groups = _timeline_summary(scan.seen)
        first, last = (format_second(s, bool(scan.clock.dated)) for s in (first_second, last_second))
        span = last_second - first_second
    dated = scan.clock.dated
    forms = {_form_text(key, bool(dated)): n for key, n in sorted(scan.forms.items(), key=lambda kv: -kv[1])}
    return DatasetCheck(given=given, files=tuple(scan.checked), rows=scan.rows, servers=len(scan.servers),
                        groups=groups, first=first, last=last, span_seconds=span, dated=dated, time_forms=forms,
                        metric_columns=tuple(c for c in scan.columns or () if c not in ("server_id", "timestamp")),
                        ignored_columns=dict(scan.ignored), errors=tuple(problems.found),
                        error_count=problems.count, seconds=time.monotonic() - started)


class _Scan:
    """One pass over a dataset's files: every row checked, and only what does not grow with the rows kept
    (servers, a bitmap of seconds per server, where each time-ordered run starts; see the module docstring).
    Errors go to ``problems``: raised at once by load, collected by check."""

    def __init__(self, files: list[Path], clock: _Clock, problems: _Problems) -> None:
        self.files, self.clock, self.problems = files, clock, problems
        self.servers: dict[str, int] = {}
        self.seen: list[dict[int, bytearray]] = []  # per server, a bit per second: duplicates without holding rows
        self.first_dup: tuple[int, int] | None = None  # smallest (server index, second) seen twice
        self.runs: list[Run] = []
        self.streamable = True
        self.rows = 0
        self.columns: tuple[str, ...] | None = None
        self.layouts: list[Layout] = []
        self.ignored: dict[str, int] = {}
        self.forms: dict[tuple[str, str], int] = {}  # (date/time separator, suffix) -> rows
        self.checked: list[CheckedFile] = []
        self.first_file: Path | None = None
        self.end = 0  # byte offset just past the last row read of the file being read

    def run(self) -> None:
        for index, file in enumerate(self.files):
            try:
                self._file(index, file)
            except DatasetError as exc:  # a file-wide error (header, bytes, stream): the file is left
                if len(self.checked) == index:
                    self.checked.append(CheckedFile(file, compressed.compression(file), False, False, 0, 0))
                self.problems.add(exc)
        if self.first_dup is not None:
            self.problems.add(_duplicate_error(self.files, self.clock, tuple(self.servers)[self.first_dup[0]],
                                               self.first_dup[1]))

    def _file(self, file_index: int, file: Path) -> None:
        if not file.is_file():
            raise DatasetError(file, None, None, "no such dataset file")
        reader = _Rows(file, self.clock, self.problems)
        layout = reader.layout
        if self.columns is None:
            self.columns, self.first_file = layout.columns, file
        elif layout.columns != self.columns:
            reader.close()
            raise DatasetError(file, 1, None, f"metric columns {','.join(layout.columns[2:])} differ from "
                               f"{','.join(self.columns[2:])} of {self.first_file}: all files of a dataset have "
                               "the same columns of metrics (other columns are ignored)")
        self.layouts.append(layout)
        run_starts: list[tuple[int, int, int]] = []  # (byte offset, row index, second) where the time order restarts
        run_ends: list[int] = []  # the last second of each run
        errors_before = self.problems.count
        file_first_row = self.rows
        try:
            self._rows(reader, run_starts, run_ends)
        finally:
            file_rows = self.rows - file_first_row
            self.checked.append(CheckedFile(file, reader.compression, reader.bom, reader.crlf,
                                            reader.trailing_blank, file_rows))
            for name in layout.ignored:
                self.ignored[name] = self.ignored.get(name, 0) + file_rows
        if file_rows == 0 and self.problems.count == errors_before:
            raise DatasetError(file, 2, None, "the file has a header but no rows")
        bounds = [*((o, r) for o, r, _ in run_starts[1:]), (self.end, self.rows)]
        self.runs.extend(Run(offset=o, end=bounds[i][0], first_row=r, rows=bounds[i][1] - r, file=file_index,
                             first_second=s, last_second=run_ends[i])
                         for i, (o, r, s) in enumerate(run_starts))
        if len(self.runs) > MAX_STREAM_RUNS:
            self.streamable = False

    def _rows(self, reader: _Rows, run_starts: list[tuple[int, int, int]], run_ends: list[int]) -> None:
        """Read one file's rows into the scan: servers, seconds seen, runs, timestamp forms."""
        servers, seen, forms = self.servers, self.seen, self.forms
        previous = None
        rows = self.rows
        end = 0
        try:
            for _line, offset, sid, sec, _numbers, text in reader:
                index = servers.setdefault(sid, len(servers))
                if index == len(seen):
                    seen.append({})
                chunk, at = divmod(sec, SECONDS_PER_CHUNK)
                bits = seen[index].get(chunk)
                if bits is None:
                    bits = seen[index][chunk] = bytearray(SECONDS_PER_CHUNK // 8)
                byte, bit = at >> 3, 1 << (at & 7)
                if bits[byte] & bit:
                    if self.first_dup is None or (index, sec) < self.first_dup:
                        self.first_dup = (index, sec)
                else:
                    bits[byte] |= bit
                if previous is None or sec < previous:
                    if previous is not None:
                        run_ends.append(previous)
                    run_starts.append((offset, rows, sec))
                self.streamable = self.streamable and reader.single_line
                previous = sec
                form = (text[10:11], text[19:])  # date/time separator and suffix; ("", "") for HH:MM:SS
                forms[form] = forms.get(form, 0) + 1
                rows += 1
                end = reader.offset
        finally:
            self.rows, self.end = rows, end
            if previous is not None:
                run_ends.append(previous)

    def dataset(self) -> Dataset:
        """The checked dataset (only after a run that raised no error)."""
        assert self.columns is not None and self.clock.dated is not None
        first, last, count = _timeline_summary(self.seen)
        return Dataset(files=tuple(self.files), columns=self.columns, servers=tuple(self.servers), rows=self.rows,
                       first_second=first, last_second=last, seconds_count=count,
                       runs=tuple(self.runs) if self.streamable else None, dated=self.clock.dated,
                       recording_start=self.clock.recording_start, layouts=tuple(self.layouts),
                       ignored_columns=dict(self.ignored))


def _timeline_summary(seen: list[dict[int, bytearray]]) -> tuple[int, int, int]:
    """(first second, last second, distinct seconds) of all servers' bitmaps together."""
    union: dict[int, int] = {}
    for chunks in seen:
        for chunk, bits in chunks.items():
            union[chunk] = union.get(chunk, 0) | int.from_bytes(bits, "little")
    low, high = min(union), max(union)
    first = low * SECONDS_PER_CHUNK + (union[low] & -union[low]).bit_length() - 1
    last = high * SECONDS_PER_CHUNK + union[high].bit_length() - 1
    return first, last, sum(bits.bit_count() for bits in union.values())


class _Rows:
    """Checked rows of a dataset file: (line, byte offset, server_id, timeline second, metric values,
    timestamp text) each, the values in the Layout's column order.

    The header is read and checked on construction (a bad one raises DatasetError). Every row is checked as it
    is read; a bad one goes to ``problems`` (raised by load: the first bad row stops the read) and is not
    yielded. A blank line counts as one only when a row follows it: blank lines at the end are skipped."""

    def __init__(self, path: Path, clock: _Clock, problems: _Problems | None = None) -> None:
        self.path = path
        self.clock = clock
        self.problems = problems or _Problems()
        self.offset = 0  # byte offset (of the decompressed text) just past the last line read
        self.single_line = True  # False once a row spans several lines (a quoted newline)
        self.compression = compressed.compression(path)
        self.bom = False
        self.crlf = False
        self.trailing_blank = 0  # blank lines after the last row, known once the rows are read
        try:
            self._fh = compressed.open_stream(path)
        except compressed.READ_ERRORS as exc:
            if self.compression is None:
                raise
            raise DatasetError(path, 1, None, f"cannot read the {self.compression} stream ({exc})") from None
        self._line_start = 0
        self._reader = csv.reader(self._lines())
        try:
            header = next(self._reader, None)
            if header is None:
                raise DatasetError(path, None, None, "the file is empty (no header, no rows)")
            self.layout = _check_header(path, header)
        except csv.Error as exc:
            self._fh.close()
            raise DatasetError(path, 1, None, f"malformed CSV: {exc}") from None
        except BaseException:
            self._fh.close()
            raise

    def close(self) -> None:
        self._fh.close()

    def _lines(self) -> Iterator[str]:
        for size, text in _bounded_lines(self.path, self._fh, self.compression):
            if self.offset == 0:
                if text.startswith("\ufeff"):  # Excel's "CSV UTF-8" writes one
                    text = text[1:]
                    self.bom = True
                self.crlf = text.endswith("\r\n")
            self._line_start = self.offset
            self.offset += size
            yield text

    def __iter__(self) -> Iterator[tuple[int, int, str, int, list[float], str]]:
        path, reader, clock, add = self.path, self._reader, self.clock, self.problems.add
        parse = clock.parse
        layout = self.layout
        sid_at, ts_at, *metrics_at = layout.positions
        metrics = list(zip(layout.columns[2:], metrics_at))
        names, width = layout.names, layout.width
        line = 0  # as reported for a malformed-CSV error before the first row
        physical = 1  # header's line
        blank = 0  # the first of the blank lines since the last row (0: none)
        blanks = 0
        try:
            for row in reader:
                single = reader.line_num == physical + 1
                line = physical = reader.line_num
                if not row or ((len(row) != width or not row[sid_at].strip()) and not any(f.strip() for f in row)):
                    blanks += 1
                    blank = blank or line
                    continue
                if blank:
                    add(DatasetError(path, blank, None, "blank line (blank lines may only end a file)"))
                    blank = blanks = 0
                if not single:
                    self.single_line = False
                if len(row) != width:
                    field = (names[len(row)] or None) if len(row) < width else None
                    add(DatasetError(path, line, field, f"expected {width} fields, got {len(row)}"))
                    continue
                sid = row[sid_at].strip()
                if not sid:
                    add(DatasetError(path, line, "server_id", "empty server_id"))
                    continue
                text = row[ts_at].strip()
                if parse is None:
                    parse = clock.fix(path, line, text)
                try:
                    sec = parse(text)
                except ValueError as exc:
                    add(clock.error(path, line, text, exc))
                    continue
                try:
                    numbers = [_parse_number(path, line, col, row[i].strip()) for col, i in metrics]
                except DatasetError as exc:
                    add(exc)
                    continue
                yield line, self._line_start if single else -1, sid, sec, numbers, text
            self.trailing_blank = blanks
        except csv.Error as exc:
            raise DatasetError(path, line + 1, None, f"malformed CSV: {exc}") from None
        finally:
            self._fh.close()


def _bounded_lines(path: Path, fh, kind: str | None) -> Iterator[tuple[int, str]]:
    """Yield the binary file's lines, each as (its size in bytes, its text), one at a time, so a decoding error
    names its own line, and refuse a line too long to be a metrics row before it is held whole. ``kind``: the
    file's compression (a damaged stream is an error naming the line it reached), None for a plain file."""
    line = 0
    limit = MAX_LINE_BYTES
    while True:
        try:
            raw = fh.readline(limit)
        except compressed.READ_ERRORS as exc:
            if kind is None:
                raise
            raise DatasetError(path, line + 1, None, f"cannot read the {kind} stream ({exc or type(exc).__name__})"
                               ) from None
        if not raw:
            return
        line += 1
        if len(raw) >= limit and not raw.endswith(b"\n"):
            raise DatasetError(path, line, None, f"line longer than {limit} bytes")
        try:
            yield len(raw), raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            hint = ""
            looks = compressed.sniff(raw) if line == 1 and kind is None else None
            if looks:
                suffix = next(s for s, name in compressed.COMPRESSIONS.items() if name == looks)
                hint = f"; it looks {looks}-compressed: name it *.csv{suffix}"
            raise DatasetError(path, line, None, f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line{hint})"
                               ) from None


def _duplicate_error(files: list[Path], clock: _Clock, sid: str, second: int) -> DatasetError:
    """The error naming the first two rows (file and line) that hold (sid, second); only read again when a
    duplicate was seen (other bad rows are passed over: check reports them on its own)."""
    found: list[tuple[Path, int, str]] = []
    for path in files:
        try:
            for line, _, s, sec, _, text in _Rows(path, clock, _Problems(keep=0)):
                if s == sid and sec == second:
                    found.append((path, line, text))
                    if len(found) == 2:
                        break
        except DatasetError:
            continue  # a file check has already reported
        if len(found) == 2:
            break
    (first_path, first_line, first_text), (path, line, text) = found
    when = format_second(second, bool(clock.dated))
    if first_path == path:
        where = f"first seen on line {first_line}"
    else:
        where = f"first seen in {first_path}, line {first_line}"
    same = "" if first_text == text else f"; {first_text!r} and {text!r} are the same second"
    return DatasetError(path, line, "timestamp", f"duplicate sample for server {sid!r} at {when} ({where}{same})")
