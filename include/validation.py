"""Compare a produced window CSV with the expected one, per key, and report every difference.

Rows are matched on (server_id, window_start, window_end). Numbers must agree at two decimals; the
alert text must agree exactly. The report counts expected, produced, matching, missing and extra rows
and mismatches per column, and keeps the first mismatches for a person to read.

A ``tolerance`` (absolute, numeric columns only; 0, the default, is exact) lets numbers differ by at most that
much: such cells are counted apart (``within_tolerance``, per column, the first ones kept), never as matching
and never hidden; a window whose only differences are within tolerance passes. A larger difference, or any
difference of the alert text, is a mismatch as before.

The result is handed on as validation.json, one typed model (``ValidationRecord``): validate_output writes
it, and the Replay validation page, the report and the CLI read it back with ``read_record``.

A live run adds two sections (``add_live``): the alert latency figures (include.latency) under
contract.LATENCY_KEY, and ``late``: the late samples the producer sent, those sent further behind than the
watermark, Spark's rows dropped by the watermark, and every differing window classified "explained" (that
server's window holds a sample sent beyond the watermark) or "unexplained". An output whose differences are
all explained has status "explained" and passes when the run allows late drops (``allow_late_drops``);
otherwise any difference fails.
"""

from __future__ import annotations

import bisect
import csv
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from include.contract import (ALERTS_FILE, CPU_MEM_FILE, CPU_MEM_HEADER, CPU_MEM_NUMERIC, KEY_COLUMNS, LATENCY_KEY,
                              NET_DISK_FILE, NET_DISK_HEADER, NET_DISK_NUMERIC, SEND_LOG_FILE, STREAM_FILE)
from include.dataset import SECONDS_PER_DAY, parse_datetime, parse_time_of_day
from include.formatting import CENT
from include.handoff import read_model
from include.latency import (AlertLatency, LatencySummary, LateSent, SendLog, SendLogError, alert_latencies,
                             read_alerts, summarize)
from include.paths import write_atomically

KEY = KEY_COLUMNS
FIRST_MISMATCHES = 20


class ValidationInputError(ValueError):
    """An expected or produced file that cannot be compared; the message names the file and line."""


class ValidationFileError(ValueError):
    """A validation.json that is missing, unreadable or malformed; the message names the file (and field)."""


# validation.json, the typed hand-off. Strict and closed: the file is written by these models, so a value
# they would have to coerce, or a key they do not know, means the file is broken.
HANDOFF = ConfigDict(extra="forbid", strict=True)


class MismatchRecord(BaseModel):
    model_config = HANDOFF

    key: list[str]
    column: str
    expected: str
    produced: str


class ComparedPart(BaseModel):
    """One output compared row by row: the counts and the first differences.

    ``matching`` counts windows equal to the expected ones; ``within_tolerance`` those whose numbers differ,
    but only within the run's tolerance (they pass, and are counted here rather than as matching). Records
    written before tolerances existed lack the within-tolerance fields and ``alerts``: they read as 0 / None."""

    model_config = HANDOFF

    expected_path: str
    produced_path: str
    expected_rows: NonNegativeInt
    produced_rows: NonNegativeInt
    matching: NonNegativeInt
    missing: NonNegativeInt
    extra: NonNegativeInt
    mismatches_per_column: dict[str, NonNegativeInt]
    first_mismatches: list[MismatchRecord]
    first_missing: list[list[str]]
    first_extra: list[list[str]]
    within_tolerance: NonNegativeInt = 0
    within_tolerance_per_column: dict[str, NonNegativeInt] = Field(default_factory=dict)
    first_within_tolerance: list[MismatchRecord] = Field(default_factory=list)
    alerts: NonNegativeInt | None = None  # produced rows with an alert (None: a record from before it was kept)
    passed: bool
    # "explained": it differs, but only in windows that late samples beyond the watermark explain, and the run
    # allows late drops (live mode).
    status: Literal["pass", "fail", "explained"]

    @model_validator(mode="after")
    def _status_says_passed(self) -> ComparedPart:
        if self.passed != (self.status in ("pass", EXPLAINED)):
            raise ValueError(f"status {self.status!r} contradicts passed={self.passed}")
        return self

    @property
    def differing(self) -> int:
        """Windows that differ beyond the tolerance: mismatching or missing, and extra ones."""
        return self.expected_rows - self.matching - self.within_tolerance + self.extra


class NotApplicablePart(BaseModel):
    """An output the dataset cannot produce (NET/DISK of a CPU/MEM-only dataset)."""

    model_config = HANDOFF

    status: Literal["not applicable"]
    reason: str


class ErrorPart(BaseModel):
    """An output that could not be compared at all; ``reason`` says why."""

    model_config = HANDOFF

    status: Literal["error"]
    reason: str


Part = Annotated[ComparedPart | NotApplicablePart | ErrorPart, Field(discriminator="status")]
EXPLAINED = "explained"
PASSING = ("pass", EXPLAINED, "not applicable")
DifferenceKind = Literal["mismatch", "missing", "extra"]


class DifferingWindow(BaseModel):
    """One window that differs from the expected file, and whether late data explains it."""

    model_config = HANDOFF

    output: str  # cpu_mem or net_disk
    kind: DifferenceKind
    key: list[str]  # server_id, window_start, window_end
    explained: bool


class LateRecord(BaseModel):
    """validation.json's ``late`` section of a live run: what was sent late, what Spark dropped, and each
    differing window classified. ``explained``/``unexplained`` count windows per output."""

    model_config = HANDOFF

    samples_sent: NonNegativeInt  # samples the producer held back and sent late
    # ... of which sent more than watermark_seconds (recorded) behind the greatest second sent before them.
    beyond_watermark: NonNegativeInt
    watermark_seconds: NonNegativeInt
    late_max_seconds: NonNegativeInt
    # Spark's numRowsDroppedByWatermark, summed over the progress events of both outputs' queries.
    dropped_by_watermark: NonNegativeInt
    allow_late_drops: bool
    explained: dict[str, NonNegativeInt]
    unexplained: dict[str, NonNegativeInt]
    # The first FIRST_MISMATCHES unexplained windows, then the first FIRST_MISMATCHES explained ones.
    windows: list[DifferingWindow]

    @property
    def explained_total(self) -> int:
        return sum(self.explained.values())

    @property
    def unexplained_total(self) -> int:
        return sum(self.unexplained.values())

    def describe(self) -> str:
        return (f"{self.samples_sent} samples sent late (up to {self.late_max_seconds} recorded s), "
                f"{self.beyond_watermark} beyond the {self.watermark_seconds} s watermark; Spark dropped "
                f"{self.dropped_by_watermark} rows; differing windows: {self.explained_total} explained, "
                f"{self.unexplained_total} unexplained; late drops "
                + ("allowed" if self.allow_late_drops else "not allowed"))


class ValidationRecord(BaseModel):
    """validation.json: who and when (``run_id``, ``validated_at``, ``duration_seconds``), the verdict, the parts.

    ``error`` is there only when nothing could be compared (then both parts are ErrorParts). A live run adds
    ``late`` and the alert latency (``latency`` here, LATENCY_KEY in the file)."""

    # The latency's key in the file is the contract's; by name or by that key both read.
    model_config = ConfigDict(**HANDOFF, serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    run_id: str | None = None
    validated_at: str | None = None  # ISO 8601, as written; kept as text so the file reads back unchanged
    duration_seconds: float | None = None
    # The run's dataset_path param as given, and its mode: what the Replay validation page groups and filters
    # runs by. None in records written before they were kept.
    dataset: str | None = None
    mode: str | None = None
    # The absolute tolerance the numbers were compared with (0: exact); None in records from before it existed.
    tolerance: float | None = Field(default=None, ge=0)
    passed: bool
    error: str | None = None
    cpu_mem: Part
    net_disk: Part
    late: LateRecord | None = None
    latency: LatencySummary | None = Field(default=None, alias=LATENCY_KEY)

    @model_validator(mode="after")
    def _verdict_matches_parts(self) -> ValidationRecord:
        parts_pass = all(p.status in PASSING for p in (self.cpu_mem, self.net_disk))
        if self.passed != parts_pass:
            raise ValueError(f"passed={self.passed} contradicts the parts' status "
                             f"(cpu_mem {self.cpu_mem.status!r}, net_disk {self.net_disk.status!r})")
        for name, part in (("cpu_mem", self.cpu_mem), ("net_disk", self.net_disk)):
            if part.status == EXPLAINED and (self.late is None or not self.late.allow_late_drops
                                             or self.late.unexplained.get(name, 0)):
                raise ValueError(f"{name} is {EXPLAINED!r}, but the late section does not allow late drops or "
                                 f"holds unexplained windows of it")
        return self

    def write(self, path: Path) -> Path:
        # exclude_unset: keys nobody gave stay out of the file (``error`` of a compared run, the run fields when
        # no ``about`` was given), while a given None (duration_seconds of a run without a start) stays null.
        write_atomically(path, json.dumps(self.model_dump(mode="json", exclude_unset=True), indent=2) + "\n")
        return path


def read_record(path: Path | str) -> ValidationRecord:
    """The validation.json at ``path``, validated; ValidationFileError naming the file (and field) otherwise."""
    return read_model(path, ValidationRecord, ValidationFileError, "no validation.json; did validate_output run?")


@dataclass
class Mismatch:
    key: tuple[str, ...]
    column: str
    expected: str
    produced: str


def difference_lines(name: str, part: ComparedPart | ValidationReport) -> list[str]:
    """The first differences of output ``name`` (a compared part, as recorded or as computed), a line each, as
    the notices and the task log say them: differing values, then missing and extra windows."""
    lines = [f"{name} {' / '.join(m.key)} {m.column}: expected {m.expected!r}, produced {m.produced!r}"
             for m in part.first_mismatches]
    return lines + [f"{name} {' / '.join(key)}: {kind} window"
                    for kind, keys in (("missing", part.first_missing), ("extra", part.first_extra)) for key in keys]


def tolerated_lines(name: str, part: ComparedPart | ValidationReport) -> list[str]:
    """The first values of output ``name`` that differ only within the tolerance, a line each."""
    return [f"{name} {' / '.join(m.key)} {m.column}: within tolerance, expected {m.expected!r}, "
            f"produced {m.produced!r}" for m in part.first_within_tolerance]


@dataclass
class ValidationReport:
    expected_path: str
    produced_path: str
    expected_rows: int = 0
    produced_rows: int = 0
    matching: int = 0
    missing: int = 0
    extra: int = 0
    mismatches_per_column: dict[str, int] = field(default_factory=dict)
    first_mismatches: list[Mismatch] = field(default_factory=list)
    first_missing: list[tuple[str, ...]] = field(default_factory=list)
    first_extra: list[tuple[str, ...]] = field(default_factory=list)
    # Every differing window (not only the first few): what late data is checked against in live mode. Windows
    # that differ only within the tolerance are not in it: they pass.
    differing: list[tuple[DifferenceKind, tuple[str, ...]]] = field(default_factory=list)
    tolerance: Decimal = Decimal(0)
    within_tolerance: int = 0  # windows whose numbers differ, all within the tolerance, and nothing else
    within_tolerance_per_column: dict[str, int] = field(default_factory=dict)  # cells
    first_within_tolerance: list[Mismatch] = field(default_factory=list)
    alerts: int = 0  # produced rows with an alert

    @property
    def passed(self) -> bool:
        return (self.missing == 0 and self.extra == 0 and not any(self.mismatches_per_column.values())
                and self.matching + self.within_tolerance == self.expected_rows)

    def summary(self, status: str | None = None) -> str:
        verdict = (status or ("pass" if self.passed else "fail")).upper()
        cols = ", ".join(f"{c}={n}" for c, n in self.mismatches_per_column.items()) or "none"
        tolerated = ""
        if self.tolerance or self.within_tolerance:
            per_col = ", ".join(f"{c}={n}" for c, n in self.within_tolerance_per_column.items() if n)
            tolerated = (f", within tolerance {self.within_tolerance} (+/-{self.tolerance}"
                         + (f"; cells {per_col}" if per_col else "") + ")")
        return (f"{verdict}: expected {self.expected_rows} rows, produced {self.produced_rows}, "
                f"matching {self.matching}{tolerated}, missing {self.missing}, extra {self.extra}, "
                f"mismatches per column: {cols}"
                + (" (every differing window explained by late data; late drops allowed)"
                   if status == EXPLAINED else ""))

    def to_part(self, status: str | None = None) -> ComparedPart:
        """The typed part; ``status`` "explained" (RunValidation decides) passes despite differences."""
        status = status or ("pass" if self.passed else "fail")
        return ComparedPart(
            expected_path=self.expected_path, produced_path=self.produced_path, expected_rows=self.expected_rows,
            produced_rows=self.produced_rows, matching=self.matching, missing=self.missing, extra=self.extra,
            mismatches_per_column=dict(self.mismatches_per_column),
            first_mismatches=[MismatchRecord(key=list(m.key), column=m.column, expected=m.expected,
                                             produced=m.produced) for m in self.first_mismatches],
            first_missing=[list(k) for k in self.first_missing], first_extra=[list(k) for k in self.first_extra],
            within_tolerance=self.within_tolerance,
            within_tolerance_per_column=dict(self.within_tolerance_per_column),
            first_within_tolerance=[MismatchRecord(key=list(m.key), column=m.column, expected=m.expected,
                                                   produced=m.produced) for m in self.first_within_tolerance],
            alerts=self.alerts, passed=status in ("pass", EXPLAINED), status=status)


def read_rows(path: Path, header: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, str]]:
    """Rows of a window CSV by key; ValidationInputError on a missing file, a wrong header or a bad row."""
    path = Path(path)
    if not path.is_file():
        raise ValidationInputError(f"{path}: no such file")
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            got = next(reader, None)
            if got is None:
                raise ValidationInputError(f"{path}: empty file, expected header {','.join(header)}")
            if tuple(got) != header:
                raise ValidationInputError(f"{path}, line 1: header is {','.join(got)}, expected {','.join(header)}")
            for row in reader:
                if len(row) != len(header):
                    raise ValidationInputError(
                        f"{path}, line {reader.line_num}: expected {len(header)} fields, got {len(row)}")
                rec = dict(zip(header, row))
                key = tuple(rec[k] for k in KEY)
                if key in rows:
                    raise ValidationInputError(f"{path}, line {reader.line_num}: duplicate window {key}")
                rows[key] = rec
    except UnicodeDecodeError as exc:
        raise ValidationInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValidationInputError(f"{path}: malformed CSV: {exc}") from None
    return rows


SAME, TOLERATED, DIFFERENT = "same", "tolerated", "different"


def compare_number(expected: str, produced: str, tolerance: Decimal = Decimal(0)) -> str:
    """SAME at two decimals (as the outputs are written), TOLERATED when the two differ by at most
    ``tolerance`` (absolute; compared in decimal, so 0.01 off at a 0.01 tolerance is within it), else
    DIFFERENT (also when ``produced`` is not a number)."""
    try:
        e, p = Decimal(expected).quantize(CENT), Decimal(produced).quantize(CENT)
    except InvalidOperation:
        return DIFFERENT
    if e == p:
        return SAME
    return TOLERATED if tolerance and abs(e - p) <= tolerance else DIFFERENT


def as_tolerance(tolerance: float | int | str | Decimal) -> Decimal:
    """The tolerance param as a Decimal, from its shortest text (0.05 stays 0.05, not 0.05000000000000000277);
    ValueError for a negative or non-finite one."""
    value = Decimal(str(tolerance))
    if not value.is_finite() or value < 0:
        raise ValueError(f"tolerance ({tolerance!r}) is not a number >= 0")
    return value


def compare(expected_path: Path, produced_path: Path, header: tuple[str, ...],
            numeric_columns: tuple[str, ...], tolerance: float | Decimal = 0) -> ValidationReport:
    """Every window of the two files compared (see the module docstring); ``tolerance`` is absolute and applies
    to ``numeric_columns`` only."""
    tol = as_tolerance(tolerance)
    expected = read_rows(expected_path, header)
    produced = read_rows(produced_path, header)
    _check_numbers(expected_path, expected, numeric_columns)
    value_columns = [c for c in header if c not in KEY]
    text_columns = [c for c in value_columns if c not in numeric_columns]  # the alert
    report = ValidationReport(expected_path=str(expected_path), produced_path=str(produced_path),
                              expected_rows=len(expected), produced_rows=len(produced),
                              mismatches_per_column={c: 0 for c in value_columns}, tolerance=tol,
                              within_tolerance_per_column={c: 0 for c in numeric_columns},
                              alerts=sum(1 for row in produced.values() if any(row[c] for c in text_columns)))
    for key, exp in expected.items():
        got = produced.get(key)
        if got is None:
            report.missing += 1
            report.differing.append(("missing", key))
            if len(report.first_missing) < FIRST_MISMATCHES:
                report.first_missing.append(key)
            continue
        ok, tolerated = True, False
        for c in value_columns:
            verdict = (compare_number(exp[c], got[c], tol) if c in numeric_columns
                       else SAME if exp[c] == got[c] else DIFFERENT)
            if verdict == TOLERATED:
                tolerated = True
                report.within_tolerance_per_column[c] += 1
                if len(report.first_within_tolerance) < FIRST_MISMATCHES:
                    report.first_within_tolerance.append(Mismatch(key=key, column=c, expected=exp[c],
                                                                  produced=got[c]))
            elif verdict == DIFFERENT:
                ok = False
                report.mismatches_per_column[c] += 1
                if len(report.first_mismatches) < FIRST_MISMATCHES:
                    report.first_mismatches.append(Mismatch(key=key, column=c, expected=exp[c], produced=got[c]))
        if not ok:
            report.differing.append(("mismatch", key))
        elif tolerated:
            report.within_tolerance += 1
        else:
            report.matching += 1
    for key in produced:
        if key not in expected:
            report.extra += 1
            report.differing.append(("extra", key))
            if len(report.first_extra) < FIRST_MISMATCHES:
                report.first_extra.append(key)
    return report


def _check_numbers(path: Path, rows: dict[tuple[str, ...], dict[str, str]], numeric: tuple[str, ...]) -> None:
    for line, rec in enumerate(rows.values(), start=2):
        for c in numeric:
            try:
                Decimal(rec[c])
            except InvalidOperation:
                raise ValidationInputError(f"{path}, line {line}, field {c!r}: {rec[c]!r} is not a number") from None


NOT_APPLICABLE = "not applicable"
NO_NET_DISK = "the dataset has no net_in/net_out/disk_io columns"


@dataclass
class RunValidation:
    """Both outputs of one run: CPU/MEM always, NET/DISK when the dataset has those columns; for a live run
    also the late-data check and the alert latency (``add_live``)."""

    cpu_mem: ValidationReport
    net_disk: ValidationReport | None  # None: not applicable
    late: LateRecord | None = None
    latency: LatencySummary | None = None
    tolerance: float = 0.0  # the absolute tolerance both outputs were compared with

    def status(self, name: str, report: ValidationReport) -> str:
        """pass (no difference), explained (differences, all explained by late data, and allowed), or fail."""
        if report.passed:
            return "pass"
        late = self.late
        if late is not None and late.allow_late_drops and not late.unexplained.get(name, 0):
            return EXPLAINED
        return "fail"

    def reports(self) -> list[tuple[str, ValidationReport]]:
        return [("cpu_mem", self.cpu_mem)] + ([("net_disk", self.net_disk)] if self.net_disk else [])

    @property
    def passed(self) -> bool:
        return all(self.status(name, r) in ("pass", EXPLAINED) for name, r in self.reports())

    def summaries(self) -> dict[str, str]:
        return {"cpu_mem": self.cpu_mem.summary(self.status("cpu_mem", self.cpu_mem)),
                "net_disk": (self.net_disk.summary(self.status("net_disk", self.net_disk)) if self.net_disk
                             else f"{NOT_APPLICABLE.upper()}: {NO_NET_DISK}")}

    def record(self, about: dict | None = None) -> ValidationRecord:
        """The typed validation.json; ``about`` holds run_id, validated_at, duration_seconds, dataset and mode."""
        net_disk = (self.net_disk.to_part(self.status("net_disk", self.net_disk)) if self.net_disk else
                    NotApplicablePart(status=NOT_APPLICABLE, reason=NO_NET_DISK))
        # Only a live run's sections are given: a batch run's file keeps exactly its keys.
        live = {k: v for k, v in (("late", self.late), ("latency", self.latency)) if v is not None}
        return ValidationRecord(**(about or {}), tolerance=self.tolerance, passed=self.passed,
                                cpu_mem=self.cpu_mem.to_part(self.status("cpu_mem", self.cpu_mem)),
                                net_disk=net_disk, **live)

    def write(self, path: Path, about: dict | None = None) -> Path:
        """validation.json: ``about`` (run id, timing) first, then the verdict and the two parts."""
        return self.record(about).write(path)


def error_record(message: str, about: dict | None = None) -> ValidationRecord:
    """The validation.json of a run that could not be compared at all (unreadable or malformed input)."""
    part = ErrorPart(status="error", reason=message)
    return ValidationRecord(**(about or {}), passed=False, error=message, cpu_mem=part, net_disk=part)


def write_error(path: Path, message: str, about: dict | None = None) -> Path:
    return error_record(message, about).write(path)


def validate_run(output_dir: Path, expected_cpu_mem: Path, expected_net_disk: Path | None,
                 has_net_disk: bool, tolerance: float = 0.0) -> RunValidation:
    cpu_mem = compare(expected_cpu_mem, output_dir / CPU_MEM_FILE, CPU_MEM_HEADER, CPU_MEM_NUMERIC, tolerance)
    net_disk = None
    if has_net_disk:
        if expected_net_disk is None:
            raise ValidationInputError("the dataset has NET/DISK columns but no expected_net_disk_path was given")
        net_disk = compare(expected_net_disk, output_dir / NET_DISK_FILE, NET_DISK_HEADER,
                           NET_DISK_NUMERIC, tolerance)
    return RunValidation(cpu_mem=cpu_mem, net_disk=net_disk, tolerance=float(tolerance))


# --- live runs: late data and alert latency ------------------------------------------------------------------

def _window_start(text: str, dated: bool) -> int | None:
    """A window_start text as the outputs write it, back to a position: the timeline (epoch) second of a
    dated dataset, the second of the day of a time-of-day one; None when it is neither."""
    try:
        return parse_datetime(text) if dated else parse_time_of_day(text)
    except ValueError:
        return None


def classify(differences: list[tuple[str, DifferenceKind, tuple[str, ...]]], late: list[LateSent],
             window_seconds: int, dated: bool) -> list[DifferingWindow]:
    """Each differing window (output, kind, key) explained or not: explained when that server's window
    [start, start + window_seconds) holds one of the ``late`` samples (those sent beyond the watermark).

    Time-of-day windows are compared on the clock, modulo a day: the outputs write them so (one recording
    spans less than a day there, or its window texts would repeat)."""
    positions: dict[str, list[int]] = {}
    for s in late:
        positions.setdefault(s.server_id, []).append(s.second if dated else s.second % SECONDS_PER_DAY)
    for seconds in positions.values():
        seconds.sort()

    def holds(seconds: list[int], lo: int, hi: int) -> bool:
        i = bisect.bisect_left(seconds, lo)
        return i < len(seconds) and seconds[i] < hi

    out = []
    for output, kind, key in differences:
        start = _window_start(key[1], dated)
        seconds = positions.get(key[0], [])
        explained = start is not None and (
            holds(seconds, start, start + window_seconds)
            or (not dated and holds(seconds, start - SECONDS_PER_DAY, start + window_seconds - SECONDS_PER_DAY)))
        out.append(DifferingWindow(output=output, kind=kind, key=list(key), explained=explained))
    return out


def check_late(run: RunValidation, log: SendLog, watermark_seconds: int, window_seconds: int, dated: bool,
               dropped_by_watermark: int, allow_late_drops: bool) -> LateRecord:
    """The ``late`` section of a live run: the send log's late samples against the watermark, and every
    differing window of ``run`` classified (see ``classify``)."""
    beyond = log.beyond_watermark(watermark_seconds)
    differences = [(name, kind, key) for name, report in run.reports() for kind, key in report.differing]
    windows = classify(differences, beyond, window_seconds, dated)
    names = [name for name, _ in run.reports()]
    explained = {n: sum(1 for w in windows if w.output == n and w.explained) for n in names}
    unexplained = {n: sum(1 for w in windows if w.output == n and not w.explained) for n in names}
    shown = ([w for w in windows if not w.explained][:FIRST_MISMATCHES]
             + [w for w in windows if w.explained][:FIRST_MISMATCHES])
    return LateRecord(samples_sent=len(log.late), beyond_watermark=len(beyond), watermark_seconds=watermark_seconds,
                      late_max_seconds=log.late_max_seconds, dropped_by_watermark=dropped_by_watermark,
                      allow_late_drops=allow_late_drops, explained=explained, unexplained=unexplained,
                      windows=shown)


def add_live(run: RunValidation, output_dir: Path, attempt_id: str, epoch_offset: int, time_shift_seconds: int,
             dated: bool, watermark_seconds: int, window_seconds: int, allow_late_drops: bool) -> list[AlertLatency]:
    """Complete a live run's validation from its output folder: the send log, the streaming job's stream.json
    and alerts.jsonl give ``run.late`` and ``run.latency``; returns every alert's timing (the report plots
    them). The manifest's ``attempt_id``, epoch_offset, time_shift_seconds and dated describe the replay.
    ValidationInputError, naming the file, when one is missing, malformed, or from another attempt."""
    from include.live import StreamError, StreamRecord  # the live module: only a live run needs it

    try:
        log = SendLog.read(output_dir / SEND_LOG_FILE)
        stream = StreamRecord.read(output_dir / STREAM_FILE)
        alerts = read_alerts(output_dir / ALERTS_FILE)
    except (SendLogError, StreamError) as exc:
        raise ValidationInputError(str(exc)) from None
    if log.attempt_id != attempt_id:
        raise ValidationInputError(f"{output_dir / SEND_LOG_FILE}: send log of produce attempt {log.attempt_id}, "
                                   f"but the manifest is of attempt {attempt_id}")
    if stream.watermark_seconds != watermark_seconds:
        raise ValidationInputError(f"{output_dir / STREAM_FILE}: the streaming job ran with a watermark of "
                                   f"{stream.watermark_seconds} s, but the run's watermark_seconds is "
                                   f"{watermark_seconds}")
    latencies = alert_latencies(alerts, log, epoch_offset, time_shift_seconds, watermark_seconds, window_seconds)
    run.latency = summarize(latencies, log, watermark_seconds, window_seconds)
    run.late = check_late(run, log, watermark_seconds, window_seconds, dated,
                          sum(stream.dropped_by_watermark.values()), allow_late_drops)
    return latencies
