"""Compare a produced window CSV with the expected one, per key, and report every difference.

Rows are matched on (server_id, window_start, window_end). Numbers must agree at two decimals; the
alert text must agree exactly. The report counts expected, produced, matching, missing and extra rows
and mismatches per column, and keeps the first mismatches for a person to read.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from include.formatting import CENT
from include.paths import write_atomically

KEY = ("server_id", "window_start", "window_end")
FIRST_MISMATCHES = 20


class ValidationInputError(ValueError):
    """An expected or produced file that cannot be compared; the message names the file and line."""


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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        d["status"] = "pass" if self.passed else "fail"
        return d


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
                "net_disk": self.net_disk.summary() if self.net_disk else
                f"{NOT_APPLICABLE.upper()}: the dataset has no net_in/net_out/disk_io columns"}

    def to_dict(self) -> dict:
        net_disk = self.net_disk.to_dict() if self.net_disk else {
            "status": NOT_APPLICABLE, "reason": "the dataset has no net_in/net_out/disk_io columns"}
        return {"passed": self.passed, "cpu_mem": self.cpu_mem.to_dict(), "net_disk": net_disk}

    def write(self, path: Path, about: dict | None = None) -> Path:
        """validation.json: ``about`` (run id, timing) first, then the two parts."""
        write_atomically(path, json.dumps({**(about or {}), **self.to_dict()}, indent=2) + "\n")
        return path


def write_error(path: Path, message: str, about: dict | None = None) -> Path:
    """validation.json for a run that could not be compared at all (unreadable or malformed input)."""
    part = {"status": "error", "reason": message}
    write_atomically(path, json.dumps({**(about or {}), "passed": False, "error": message, "cpu_mem": part,
                                       "net_disk": part}, indent=2) + "\n")
    return path


def validate_run(output_dir: Path, expected_cpu_mem: Path, expected_net_disk: Path | None,
                 has_net_disk: bool) -> RunValidation:
    from include.paths import CPU_MEM_FILE, NET_DISK_FILE
    from include.reference import CPU_MEM_HEADER, NET_DISK_HEADER

    cpu_mem = compare(expected_cpu_mem, output_dir / CPU_MEM_FILE, CPU_MEM_HEADER, ("avg_cpu", "avg_mem"))
    net_disk = None
    if has_net_disk:
        if expected_net_disk is None:
            raise ValidationInputError("the dataset has NET/DISK columns but no expected_net_disk_path was given")
        net_disk = compare(expected_net_disk, output_dir / NET_DISK_FILE, NET_DISK_HEADER,
                           ("max_net_in", "max_disk_io"))
    return RunValidation(cpu_mem=cpu_mem, net_disk=net_disk)
