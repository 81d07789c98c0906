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

A dataset may be several files (a folder or a glob, see ``resolve_files``): one form, the same columns,
merged in timeline order; a sample duplicated across files is an error naming both.

The files are read once, row by row, and every row is checked before anything is sent, so a corrupt file
fails the producer before a single message leaves (nothing half-streamed). That check keeps only what does
not grow with the rows (server ids, a bitmap of seconds per server, where each time-ordered run of rows
starts), so the producer can then stream the files group by group, merging those runs, in memory that
stays flat as the files grow. The numpy columns (``values``, ``seconds``, ``server_index``) are still there
for the reference implementation and tests, read on first use.
"""

from __future__ import annotations

import csv
import glob
import heapq
import math
import os
import re
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np

BASE_COLUMNS = ("server_id", "timestamp", "cpu_pct", "mem_pct")
NET_DISK_COLUMNS = ("net_in", "net_out", "disk_io")
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
        files = _OpenFiles(self.files)
        parse = self._clock().parse
        try:
            cursors = [_RunCursor(files, run, buffer, parse) for run in self.runs]
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
    closed first)."""

    def __init__(self, paths: tuple[Path, ...]) -> None:
        self.paths = paths
        self.fds: OrderedDict[int, int] = OrderedDict()

    def pread(self, file: int, size: int, pos: int) -> bytes:
        fd = self.fds.get(file)
        if fd is None:
            if len(self.fds) >= MAX_OPEN_FILES:
                os.close(self.fds.popitem(last=False)[1])
            fd = self.fds[file] = os.open(self.paths[file], os.O_RDONLY)
        else:
            self.fds.move_to_end(file)
        return os.pread(fd, size, pos)

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.popitem()[1])


class _RunCursor:
    """Reads one run's lines with positioned reads, a small buffer at a time."""

    def __init__(self, files: _OpenFiles, run: Run, buffer: int, parse: Callable[[str], int]) -> None:
        self.files, self.file, self.pos, self.end, self.buffer = files, run.file, run.offset, run.end, buffer
        self.parse = parse
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
        self.server_id = fields[0].strip()
        self.text = fields[1].strip()
        self.second = self.parse(self.text)
        self.numbers = tuple(float(t.strip()) for t in fields[2:])
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
    ``load`` names a missing one), a folder (its ``*.csv`` files, sorted by name), or a glob pattern such as
    ``data/recordings/*.csv`` (its matching files, sorted by path). ``resolve`` first turns the text into a
    path (e.g. include.paths.resolve: relative to the project root).

    Nothing is confined here: the caller confines each file returned. A folder or glob that names no file is
    a DatasetError naming the path."""
    text = os.fspath(path)
    base = resolve(text)
    if base.is_dir():
        files = sorted((Path(p) for p in glob.glob(os.path.join(glob.escape(str(base)), "*.csv"))
                        if os.path.isfile(p)), key=lambda p: p.name)
        if not files:
            raise DatasetError(text, None, None, "the folder holds no *.csv file")
        return files
    if base.exists() or not any(ch in text for ch in GLOB_CHARS):
        return [base]
    files = sorted((Path(p) for p in glob.glob(str(base)) if os.path.isfile(p)), key=str)
    if not files:
        raise DatasetError(text, None, None, "no file matches this pattern")
    return files


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
    if isinstance(path, (str, os.PathLike)):
        files = resolve_files(path)
    else:
        files = [Path(p) for p in path]
        if not files:
            raise DatasetError("dataset_path", None, None, "no dataset file given")
    clock = _Clock(_as_utc(recording_start))
    servers: dict[str, int] = {}
    seen: list[dict[int, bytearray]] = []  # per server, a bit per second seen: duplicates without holding rows
    first_dup: tuple[int, int] | None = None  # smallest (server index, second) seen twice
    runs: list[Run] = []
    streamable = True
    rows = 0
    columns: tuple[str, ...] | None = None
    for file_index, file in enumerate(files):
        if not file.is_file():
            raise DatasetError(file, None, None, "no such dataset file")
        reader = _Rows(file, clock)
        if columns is None:
            columns = reader.columns
        elif reader.columns != columns:
            reader.close()
            raise DatasetError(file, 1, None, f"columns {','.join(reader.columns)} differ from "
                               f"{','.join(columns)} of {files[0]}: all files of a dataset have the same columns")
        run_starts: list[tuple[int, int]] = []  # (byte offset, row index) where the time order restarts
        previous = None
        end = 0
        file_first_row = rows
        for _line, offset, sid, sec, _numbers, _text in reader:
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
            if previous is None or sec < previous:
                run_starts.append((offset, rows))
            streamable = streamable and reader.single_line
            previous = sec
            rows += 1
            end = reader.offset
        if rows == file_first_row:
            raise DatasetError(file, 2, None, "the file has a header but no rows")
        bounds = [*run_starts[1:], (end, rows)]
        runs.extend(Run(offset=o, end=bounds[i][0], first_row=r, rows=bounds[i][1] - r, file=file_index)
                    for i, (o, r) in enumerate(run_starts))
        if len(runs) > MAX_STREAM_RUNS:
            streamable = False
    assert columns is not None and clock.dated is not None
    if first_dup is not None:
        _raise_duplicate(files, clock, tuple(servers)[first_dup[0]], first_dup[1])
    first, last, count = _timeline_summary(seen)
    return Dataset(files=tuple(files), columns=columns, servers=tuple(servers), rows=rows, first_second=first,
                   last_second=last, seconds_count=count, runs=tuple(runs) if streamable else None,
                   dated=clock.dated, recording_start=clock.recording_start)


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
    timestamp text) each.

    The header is read and checked on construction; every row is checked as it is read, and the first bad
    one raises DatasetError naming its line and field."""

    def __init__(self, path: Path, clock: _Clock) -> None:
        self.path = path
        self.clock = clock
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

    def close(self) -> None:
        self._fh.close()

    def _lines(self) -> Iterator[str]:
        for raw in _bounded_lines(self.path, self._fh):
            self._line_start = self.offset
            self.offset += len(raw)
            yield raw

    def __iter__(self) -> Iterator[tuple[int, int, str, int, list[float], str]]:
        path, reader, clock = self.path, self._reader, self.clock
        parse = clock.parse
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
                text = row[1].strip()
                if parse is None:
                    parse = clock.fix(path, line, text)
                try:
                    sec = parse(text)
                except ValueError as exc:
                    raise clock.error(path, line, text, exc) from None
                numbers = [_parse_number(path, line, col, t.strip()) for col, t in zip(metric_cols, row[2:])]
                yield line, start if start is not None else -1, sid, sec, numbers, text
        except csv.Error as exc:
            raise DatasetError(path, line + 1, None, f"malformed CSV: {exc}") from None
        finally:
            self._fh.close()


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


def _raise_duplicate(files: list[Path], clock: _Clock, sid: str, second: int) -> None:
    """Name the first two rows (file and line) that hold (sid, second); only read again when a duplicate was
    seen."""
    found: list[tuple[Path, int, str]] = []
    for path in files:
        for line, _, s, sec, _, text in _Rows(path, clock):
            if s == sid and sec == second:
                found.append((path, line, text))
                if len(found) == 2:
                    break
        if len(found) == 2:
            break
    (first_path, first_line, first_text), (path, line, text) = found
    when = format_second(second, bool(clock.dated))
    if first_path == path:
        where = f"first seen on line {first_line}"
    else:
        where = f"first seen in {first_path}, line {first_line}"
    same = "" if first_text == text else f"; {first_text!r} and {text!r} are the same second"
    raise DatasetError(path, line, "timestamp", f"duplicate sample for server {sid!r} at {when} ({where}{same})")
