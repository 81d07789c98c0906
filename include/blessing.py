"""Blessing: a reviewer accepts a failed run's output as the new expected output.

When validate_output fails, the DAG's review step (include.review) asks a person in the Airflow UI. On approval
``bless_run`` replaces each expected file whose part failed with the file the run produced:

- the expected file is replaced atomically (a temporary file in its folder, then a rename), so a reader sees
  the old file or the new one, never a mix;
- the previous version is kept beside it as ``<stem>.v<N><suffix>`` (``metrics_expected.v1.csv``, then ``.v2``
  ...), N the next free number, created exclusively: a version is never overwritten;
- one audit record per replaced file is appended to ``<expected file name>.history.jsonl`` beside it (JSON
  lines, ``BlessRecord``): who approved, when (UTC), the run id, the counts, the comment, the kept version and
  both files' SHA-256. ``read_history`` reads it back, validated, for the Replay validation page.

Every path is confined as params are: expected files (and so their versions and history) to the data roots,
produced files to the output roots. Parts that passed are left alone (they may differ in formatting only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, NonNegativeInt, ValidationError

from include.contract import CPU_MEM_HEADER, NET_DISK_HEADER, VALIDATION_FILE
from include.handoff import problems
from include.paths import concatenate_atomically, confined
from include.validation import ComparedPart, ValidationRecord, read_record

HISTORY_SUFFIX = ".history.jsonl"
# The outputs a blessing may replace: the validation part's name -> the param naming its expected file.
EXPECTED_PARAMS = {"cpu_mem": "expected_path", "net_disk": "expected_net_disk_path"}
HEADERS = {"cpu_mem": CPU_MEM_HEADER, "net_disk": NET_DISK_HEADER}
# A review body lists this many differences per part; the report has the rest.
SHOWN_DIFFERENCES = 5


class BlessingError(ValueError):
    """A blessing that cannot be done, or a history file that cannot be read; the message names the file
    (and line, and field)."""


class BlessRecord(BaseModel):
    """One line of a history file: one expected file replaced by one run's output."""

    model_config = ConfigDict(extra="forbid", strict=True)

    blessed_at: str  # UTC, ISO 8601, seconds
    approved_by: str  # the reviewer's user name, as Airflow's auth manager gives it
    approved_by_id: str | None = None
    approved_at: str | None = None  # when the reviewer answered (UTC), from Airflow's HITL record
    run_id: str
    output: str  # cpu_mem or net_disk
    expected_path: str
    produced_path: str
    previous_version: str  # where the replaced file now lives
    previous_sha256: str
    new_sha256: str
    expected_rows: NonNegativeInt  # the counts of the failed validation this blessing accepted
    produced_rows: NonNegativeInt
    matching: NonNegativeInt
    missing: NonNegativeInt
    extra: NonNegativeInt
    mismatches: NonNegativeInt
    comment: str


def history_path(expected: Path) -> Path:
    """The audit history beside an expected file: ``metrics_expected.csv.history.jsonl``."""
    return expected.with_name(expected.name + HISTORY_SUFFIX)


def version_path(expected: Path, n: int) -> Path:
    """The n-th kept version of an expected file: ``metrics_expected.v<n>.csv``."""
    return expected.with_name(f"{expected.stem}.v{n}{expected.suffix}")


def versions(expected: Path) -> dict[int, Path]:
    """The kept versions of an expected file, by number."""
    pattern = re.compile(rf"^{re.escape(expected.stem)}\.v(\d+){re.escape(expected.suffix)}$")
    found = {}
    for p in expected.parent.iterdir():
        m = pattern.match(p.name)
        if m:
            found[int(m.group(1))] = p
    return dict(sorted(found.items()))


def keep_version(expected: Path) -> Path:
    """Copy ``expected`` to its next free version number and return that path. Created with O_EXCL: a race
    with another blessing takes the next number, never the same file."""
    data = expected.read_bytes()
    n = max(versions(expected), default=0) + 1
    while True:
        target = version_path(expected, n)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            n += 1
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return target


def append_record(path: Path, record: BlessRecord) -> None:
    """One JSON line at the end of the history file (created if missing), flushed to disk."""
    line = json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_history(path: Path | str) -> list[BlessRecord]:
    """The records of one history file, oldest first ([] when there is none); BlessingError naming the file,
    line and field when a line is not a record."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise BlessingError(f"{path}: unreadable: {exc}") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(BlessRecord.model_validate_json(line))
        except ValidationError as exc:
            raise BlessingError(f"{path} line {number}: not a blessing record: {problems(exc)}") from None
    return records


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def failed_parts(record: ValidationRecord) -> dict[str, ComparedPart]:
    """The compared parts that failed: what a blessing replaces."""
    return {name: part for name, part in (("cpu_mem", record.cpu_mem), ("net_disk", record.net_disk))
            if isinstance(part, ComparedPart) and part.status == "fail"}


def check_produced(path: Path, output: str) -> None:
    """A produced file is only blessed when it is what the job writes: the output's header on its first line."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline().rstrip("\r\n")
    except FileNotFoundError:
        raise BlessingError(f"{path}: the run's {output} output is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BlessingError(f"{path}: unreadable: {exc}") from None
    if first != ",".join(HEADERS[output]):
        raise BlessingError(f"{path} line 1: header {first!r} is not the {output} header "
                            f"{','.join(HEADERS[output])!r}; not blessed")


def bless_run(output_dir: Path | str, expected_paths: dict[str, str | None], run_id: str, approved_by: str,
              comment: str, approved_by_id: str | None = None, approved_at: str | None = None,
              now: datetime | None = None) -> list[BlessRecord]:
    """Make the run's produced output the expected output, for every part that failed validation.

    ``expected_paths`` maps the part (cpu_mem, net_disk) to its expected file as the run's params gave it; the
    run's validation.json (in ``output_dir``) says which parts failed and their counts, and must belong to
    ``run_id``. Every file is checked first, then each is kept, replaced and recorded in turn. Returns the
    records appended."""
    out = confined(output_dir, "output_dir", "output")
    record = read_record(out / VALIDATION_FILE)
    if record.run_id != run_id:
        raise BlessingError(f"{out / VALIDATION_FILE}: field 'run_id' is {record.run_id!r}, not this run's "
                            f"{run_id!r}; not blessed")
    if record.passed or record.error is not None:
        raise BlessingError(f"{out / VALIDATION_FILE}: the run "
                            + ("passed" if record.passed else f"was not compared ({record.error})")
                            + "; there is nothing to bless")
    plan = []
    for output, part in failed_parts(record).items():
        param = EXPECTED_PARAMS[output]
        given = expected_paths.get(output)
        if not given:
            raise BlessingError(f"{param} is empty, but the run's {output} output failed validation")
        expected = confined(given, param, "data")
        if str(expected) != part.expected_path:
            raise BlessingError(f"{param} is {expected}, but {out / VALIDATION_FILE} compared {output} with "
                                f"{part.expected_path}; not blessed")
        if not expected.is_file():
            raise BlessingError(f"{param}: no such file {expected}")
        produced = confined(part.produced_path, f"the run's {output} output", "output")
        check_produced(produced, output)
        plan.append((output, part, expected, produced))
    if not plan:
        raise BlessingError(f"{out / VALIDATION_FILE}: no compared part failed; there is nothing to bless")
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")
    done = []
    for output, part, expected, produced in plan:
        previous_sha = sha256(expected)
        kept = keep_version(expected)
        concatenate_atomically(expected, "", [produced])  # streamed, renamed into place
        entry = BlessRecord(
            blessed_at=when, approved_by=approved_by, approved_by_id=approved_by_id, approved_at=approved_at,
            run_id=run_id, output=output, expected_path=str(expected), produced_path=str(produced),
            previous_version=str(kept), previous_sha256=previous_sha, new_sha256=sha256(expected),
            expected_rows=part.expected_rows, produced_rows=part.produced_rows, matching=part.matching,
            missing=part.missing, extra=part.extra, mismatches=sum(part.mismatches_per_column.values()),
            comment=comment)
        append_record(history_path(expected), entry)
        done.append(entry)
    return done


@dataclass
class Histories:
    """The records of several history files, newest first, and the files that could not be read (why)."""

    records: list[BlessRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def histories(expected_files: list[Path | str]) -> Histories:
    """Every record in the history files of ``expected_files`` (each confined to the data roots; files
    outside them and missing histories are passed over), newest first. A broken history file is named in
    ``problems``, not raised: one bad file must not hide the others."""
    from include.paths import PathNotAllowed

    seen: set[Path] = set()
    found = Histories()
    for given in expected_files:
        try:
            expected = confined(given, "expected file", "data")
        except PathNotAllowed:
            continue
        if expected in seen:
            continue
        seen.add(expected)
        try:
            found.records.extend(read_history(history_path(expected)))
        except BlessingError as exc:
            found.problems.append(str(exc))
    found.records.sort(key=lambda r: (r.blessed_at, r.run_id, r.output), reverse=True)
    return found


def review_body(record: ValidationRecord, expected_paths: dict[str, str | None], report_link: str | None) -> str:
    """What the reviewer reads before approving (Markdown): per failed part the counts, the files it would
    replace and its first differences; then a link to the report."""
    lines = ["Validation failed. **Approve** to make this run's output the new expected output: each expected "
             "file below is replaced, its previous version kept beside it (`<name>.v<N>.csv`), and an audit "
             "record with your name and comment appended to `<name>.csv.history.jsonl`. **Reject** (or no "
             "answer in time) changes nothing. The run stays failed either way.", ""]
    for output, part in failed_parts(record).items():
        differing = {c: n for c, n in part.mismatches_per_column.items() if n}
        lines.append(f"**{output}**: {part.matching} of {part.expected_rows} expected rows match; produced "
                     f"{part.produced_rows}, missing {part.missing}, extra {part.extra}, mismatched values "
                     + (", ".join(f"{c}={n}" for c, n in differing.items()) or "none") + ".")
        lines.append(f"- replaces `{expected_paths.get(output) or part.expected_path}` with `{part.produced_path}`")
        for m in part.first_mismatches[:SHOWN_DIFFERENCES]:
            lines.append(f"- {' '.join(m.key)} {m.column}: expected {_shown(m.expected)}, "
                         f"produced {_shown(m.produced)}")
        for key in part.first_missing[:SHOWN_DIFFERENCES]:
            lines.append(f"- missing window {' '.join(key)}")
        for key in part.first_extra[:SHOWN_DIFFERENCES]:
            lines.append(f"- extra window {' '.join(key)}")
        lines.append("")
    if report_link:
        lines.append(f"[The run's report]({report_link})")
    return "\n".join(lines)


def _shown(value: str) -> str:
    return f"`{value}`" if value else "(empty)"
