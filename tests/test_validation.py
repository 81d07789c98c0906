"""The validator: per-key comparison, counts, first mismatches, and clear errors for bad files."""

from __future__ import annotations

import json

import pytest

from include.formatting import csv_text
from include.contract import CPU_MEM_HEADER
from include.validation import (RunValidation, ValidationFileError, ValidationInputError, compare,
                                read_record, write_error)

ROWS = [("s1", "10:00:00", "10:00:30", "57.9", "47", ""),
        ("s1", "10:00:10", "10:00:40", "81", "90", "CPU and Memory spike"),
        ("s2", "10:00:00", "10:00:30", "1.25", "2", "")]


def files(tmp_path, expected, produced):
    e, p = tmp_path / "expected.csv", tmp_path / "produced.csv"
    e.write_text(csv_text(CPU_MEM_HEADER, expected))
    p.write_text(csv_text(CPU_MEM_HEADER, produced))
    return e, p


def cmp(tmp_path, expected, produced):
    return compare(*files(tmp_path, expected, produced), CPU_MEM_HEADER, ("avg_cpu", "avg_mem"))


def test_identical_passes_and_trailing_zeros_are_equal(tmp_path):
    report = cmp(tmp_path, ROWS, [("s1", "10:00:00", "10:00:30", "57.90", "47.0", "")] + ROWS[1:])
    assert report.passed and report.matching == 3 and report.mismatches_per_column == {
        "avg_cpu": 0, "avg_mem": 0, "alert": 0}


def test_every_kind_of_difference_is_counted(tmp_path):
    produced = [("s1", "10:00:00", "10:00:30", "57.91", "47", ""),
                ("s1", "10:00:10", "10:00:40", "81", "90", "CPU spike suspected"),
                ("s3", "10:00:00", "10:00:30", "1", "1", "")]
    r = cmp(tmp_path, ROWS, produced)
    assert not r.passed
    assert (r.expected_rows, r.produced_rows, r.matching, r.missing, r.extra) == (3, 3, 0, 1, 1)
    assert r.mismatches_per_column == {"avg_cpu": 1, "avg_mem": 0, "alert": 1}
    assert [(m.column, m.expected, m.produced) for m in r.first_mismatches] == [
        ("avg_cpu", "57.9", "57.91"), ("alert", "CPU and Memory spike", "CPU spike suspected")]
    assert r.first_missing == [("s2", "10:00:00", "10:00:30")] and r.first_extra == [("s3", "10:00:00", "10:00:30")]
    v = RunValidation(cpu_mem=r, net_disk=None).record()
    assert v.passed is False and v.cpu_mem.status == "fail" and v.net_disk.status == "not applicable"
    assert v.cpu_mem.missing == 1 and v.cpu_mem.first_mismatches[0].key == ["s1", "10:00:00", "10:00:30"]


@pytest.mark.parametrize("content,words", [
    (None, "no such file"),
    ("", "empty file"),
    ("a,b\n", "line 1: header"),
    (",".join(CPU_MEM_HEADER) + "\ns1,10:00:00,10:00:30,1\n", "line 2: expected 6 fields"),
    (",".join(CPU_MEM_HEADER) + "\ns1,10:00:00,10:00:30,x,1,\n", "field 'avg_cpu'"),
    (",".join(CPU_MEM_HEADER) + "\ns1,10:00:00,10:00:30,1,1,\ns1,10:00:00,10:00:30,1,1,\n", "duplicate window"),
])
def test_bad_expected_file_is_a_clear_error(tmp_path, content, words):
    e, p = files(tmp_path, ROWS, ROWS)
    if content is None:
        e.unlink()
    else:
        e.write_text(content)
    with pytest.raises(ValidationInputError) as err:
        compare(e, p, CPU_MEM_HEADER, ("avg_cpu", "avg_mem"))
    assert str(e) in str(err.value) and words in str(err.value)


ABOUT = {"run_id": "manual__r1", "validated_at": "2026-11-25T02:00:00+00:00", "duration_seconds": None}
PART_KEYS = ["expected_path", "produced_path", "expected_rows", "produced_rows", "matching", "missing", "extra",
             "mismatches_per_column", "first_mismatches", "first_missing", "first_extra", "passed", "status"]


def test_validation_json_keeps_its_keys_and_reads_back_typed(tmp_path):
    r = cmp(tmp_path, ROWS, ROWS[:1] + [("s1", "10:00:10", "10:00:40", "81", "90.5", "CPU and Memory spike")])
    path = RunValidation(cpu_mem=r, net_disk=None).write(tmp_path / "out" / "validation.json", ABOUT)
    on_disk = json.loads(path.read_text())
    # The keys the browser test, the XCom summary and people read; duration_seconds stays even when null.
    assert list(on_disk) == ["run_id", "validated_at", "duration_seconds", "passed", "cpu_mem", "net_disk"]
    assert list(on_disk["cpu_mem"]) == PART_KEYS
    assert on_disk["cpu_mem"]["first_mismatches"] == [
        {"key": ["s1", "10:00:10", "10:00:40"], "column": "avg_mem", "expected": "90", "produced": "90.5"}]
    assert on_disk["cpu_mem"]["first_missing"] == [["s2", "10:00:00", "10:00:30"]]
    assert on_disk["net_disk"] == {"status": "not applicable",
                                   "reason": "the dataset has no net_in/net_out/disk_io columns"}
    record = read_record(path)
    assert record.run_id == "manual__r1" and record.duration_seconds is None and record.passed is False
    assert (record.cpu_mem.status, record.cpu_mem.matching, record.cpu_mem.missing) == ("fail", 1, 1)
    assert record.cpu_mem.mismatches_per_column == {"avg_cpu": 0, "avg_mem": 1, "alert": 0}
    record.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == path.read_text()  # read and written back unchanged


def test_error_validation_json_names_the_problem_in_both_parts(tmp_path):
    path = write_error(tmp_path / "validation.json", "cannot validate out: expected.csv: no such file", ABOUT)
    on_disk = json.loads(path.read_text())
    part = {"status": "error", "reason": "cannot validate out: expected.csv: no such file"}
    assert on_disk == {**ABOUT, "passed": False, "error": part["reason"], "cpu_mem": part, "net_disk": part}
    record = read_record(path)
    assert record.error == part["reason"] and record.cpu_mem.status == "error"


GOOD_PART = {"expected_path": "e.csv", "produced_path": "p.csv", "expected_rows": 1, "produced_rows": 1,
             "matching": 1, "missing": 0, "extra": 0, "mismatches_per_column": {"avg_cpu": 0},
             "first_mismatches": [], "first_missing": [], "first_extra": [], "passed": True, "status": "pass"}
NA_PART = {"status": "not applicable", "reason": "no NET/DISK"}


@pytest.mark.parametrize("content,words", [
    (None, "no validation.json"),
    ("{not json", "Invalid JSON"),
    ({"cpu_mem": GOOD_PART, "net_disk": NA_PART}, "field 'passed': Field required"),
    ({"passed": "yes", "cpu_mem": GOOD_PART, "net_disk": NA_PART}, "field 'passed'"),
    ({"passed": True, "cpu_mem": {**GOOD_PART, "matching": -1}, "net_disk": NA_PART}, "cpu_mem.pass.matching"),
    ({"passed": True, "cpu_mem": {**GOOD_PART, "status": "fail"}, "net_disk": NA_PART}, "contradicts passed=True"),
    ({"passed": True, "cpu_mem": {**GOOD_PART, "passed": False, "status": "fail"}, "net_disk": NA_PART},
     "passed=True contradicts the parts"),
    ({"passed": True, "cpu_mem": GOOD_PART, "net_disk": {"status": "skipped"}}, "field 'net_disk'"),
    ({"passed": True, "cpu_mem": GOOD_PART, "net_disk": NA_PART, "pased": 1}, "field 'pased'"),
])
def test_malformed_validation_json_is_a_named_error(tmp_path, content, words):
    path = tmp_path / "run" / "validation.json"
    path.parent.mkdir()
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValidationFileError) as err:
        read_record(path)
    assert str(path) in str(err.value) and words in str(err.value), str(err.value)
