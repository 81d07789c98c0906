"""Compare a produced window CSV with the expected one, per key, and report every difference.

Rows are matched on (server_id, window_start, window_end). Numbers must agree at two decimals; the
alert text must agree exactly. The report counts expected, produced, matching, missing and extra rows
and mismatches per column, and keeps the first mismatches for a person to read.

The result is handed on as validation.json, one typed model (``ValidationRecord``): validate_output writes
it, and the Replay validation page, the report and the CLI read it back with ``read_record``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from include.contract import (CPU_MEM_FILE, CPU_MEM_HEADER, CPU_MEM_NUMERIC, KEY_COLUMNS, NET_DISK_FILE,
                              NET_DISK_HEADER, NET_DISK_NUMERIC)
from include.formatting import CENT
from include.handoff import read_model
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
    """One output compared row by row: the counts and the first differences."""

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
    passed: bool
    status: Literal["pass", "fail"]

    @model_validator(mode="after")
    def _status_says_passed(self) -> ComparedPart:
        if self.passed != (self.status == "pass"):
            raise ValueError(f"status {self.status!r} contradicts passed={self.passed}")
        return self


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
PASSING = ("pass", "not applicable")


class ValidationRecord(BaseModel):
    """validation.json: who and when (``run_id``, ``validated_at``, ``duration_seconds``), the verdict, the parts.

    ``error`` is there only when nothing could be compared (then both parts are ErrorParts)."""

    model_config = HANDOFF

    run_id: str | None = None
    validated_at: str | None = None  # ISO 8601, as written; kept as text so the file reads back unchanged
    duration_seconds: float | None = None
    passed: bool
    error: str | None = None
    cpu_mem: Part
    net_disk: Part

    @model_validator(mode="after")
    def _verdict_matches_parts(self) -> ValidationRecord:
        parts_pass = all(p.status in PASSING for p in (self.cpu_mem, self.net_disk))
        if self.passed != parts_pass:
            raise ValueError(f"passed={self.passed} contradicts the parts' status "
                             f"(cpu_mem {self.cpu_mem.status!r}, net_disk {self.net_disk.status!r})")
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

    @property
    def passed(self) -> bool:
        return (self.missing == 0 and self.extra == 0 and not any(self.mismatches_per_column.values())
                and self.matching == self.expected_rows)

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        cols = ", ".join(f"{c}={n}" for c, n in self.mismatches_per_column.items()) or "none"
        return (f"{verdict}: expected {self.expected_rows} rows, produced {self.produced_rows}, "
                f"matching {self.matching}, missing {self.missing}, extra {self.extra}, "
                f"mismatches per column: {cols}")

    def to_part(self) -> ComparedPart:
        return ComparedPart(
            expected_path=self.expected_path, produced_path=self.produced_path, expected_rows=self.expected_rows,
            produced_rows=self.produced_rows, matching=self.matching, missing=self.missing, extra=self.extra,
            mismatches_per_column=dict(self.mismatches_per_column),
            first_mismatches=[MismatchRecord(key=list(m.key), column=m.column, expected=m.expected,
                                             produced=m.produced) for m in self.first_mismatches],
            first_missing=[list(k) for k in self.first_missing], first_extra=[list(k) for k in self.first_extra],
            passed=self.passed, status="pass" if self.passed else "fail")


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


def _same_number(expected: str, produced: str) -> bool:
    try:
        return Decimal(expected).quantize(CENT) == Decimal(produced).quantize(CENT)
    except InvalidOperation:
        return False


def compare(expected_path: Path, produced_path: Path, header: tuple[str, ...],
            numeric_columns: tuple[str, ...]) -> ValidationReport:
    expected = read_rows(expected_path, header)
    produced = read_rows(produced_path, header)
    _check_numbers(expected_path, expected, numeric_columns)
    value_columns = [c for c in header if c not in KEY]
    report = ValidationReport(expected_path=str(expected_path), produced_path=str(produced_path),
                              expected_rows=len(expected), produced_rows=len(produced),
                              mismatches_per_column={c: 0 for c in value_columns})
    for key, exp in expected.items():
        got = produced.get(key)
        if got is None:
            report.missing += 1
            if len(report.first_missing) < FIRST_MISMATCHES:
                report.first_missing.append(key)
            continue
        ok = True
        for c in value_columns:
            same = _same_number(exp[c], got[c]) if c in numeric_columns else exp[c] == got[c]
            if not same:
                ok = False
                report.mismatches_per_column[c] += 1
                if len(report.first_mismatches) < FIRST_MISMATCHES:
                    report.first_mismatches.append(Mismatch(key=key, column=c, expected=exp[c], produced=got[c]))
        report.matching += ok
    for key in produced:
        if key not in expected:
            report.extra += 1
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
    """Both outputs of one run: CPU/MEM always, NET/DISK when the dataset has those columns."""

    cpu_mem: ValidationReport
    net_disk: ValidationReport | None  # None: not applicable

    @property
    def passed(self) -> bool:
        return self.cpu_mem.passed and (self.net_disk is None or self.net_disk.passed)

    def summaries(self) -> dict[str, str]:
        return {"cpu_mem": self.cpu_mem.summary(),
                "net_disk": self.net_disk.summary() if self.net_disk else f"{NOT_APPLICABLE.upper()}: {NO_NET_DISK}"}

    def record(self, about: dict | None = None) -> ValidationRecord:
        """The typed validation.json; ``about`` holds run_id, validated_at and duration_seconds."""
        net_disk = (self.net_disk.to_part() if self.net_disk else
                    NotApplicablePart(status=NOT_APPLICABLE, reason=NO_NET_DISK))
        return ValidationRecord(**(about or {}), passed=self.passed, cpu_mem=self.cpu_mem.to_part(),
                                net_disk=net_disk)

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
                 has_net_disk: bool) -> RunValidation:
    cpu_mem = compare(expected_cpu_mem, output_dir / CPU_MEM_FILE, CPU_MEM_HEADER, CPU_MEM_NUMERIC)
    net_disk = None
    if has_net_disk:
        if expected_net_disk is None:
            raise ValidationInputError("the dataset has NET/DISK columns but no expected_net_disk_path was given")
        net_disk = compare(expected_net_disk, output_dir / NET_DISK_FILE, NET_DISK_HEADER,
                           NET_DISK_NUMERIC)
    return RunValidation(cpu_mem=cpu_mem, net_disk=net_disk)
