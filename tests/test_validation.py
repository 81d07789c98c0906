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
    assert r.alerts == 1  # produced rows with an alert (the extra one included)
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
             "mismatches_per_column", "first_mismatches", "first_missing", "first_extra", "within_tolerance",
             "within_tolerance_per_column", "first_within_tolerance", "alerts", "passed", "status"]


def test_validation_json_keeps_its_keys_and_reads_back_typed(tmp_path):
    r = cmp(tmp_path, ROWS, ROWS[:1] + [("s1", "10:00:10", "10:00:40", "81", "90.5", "CPU and Memory spike")])
    path = RunValidation(cpu_mem=r, net_disk=None).write(tmp_path / "out" / "validation.json", ABOUT)
    on_disk = json.loads(path.read_text())
    # The keys the browser test, the XCom summary and people read; duration_seconds stays even when null.
    assert list(on_disk) == ["run_id", "validated_at", "duration_seconds", "tolerance", "passed", "cpu_mem",
                             "net_disk"]
    assert on_disk["tolerance"] == 0.0
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


# --- tolerance -------------------------------------------------------------------------------------------------

def tolerated(tmp_path, produced, tolerance):
    return compare(*files(tmp_path, ROWS, produced), CPU_MEM_HEADER, ("avg_cpu", "avg_mem"), tolerance)


def test_tolerance_zero_is_exact_as_before(tmp_path):
    produced = [("s1", "10:00:00", "10:00:30", "57.91", "47", "")] + ROWS[1:]
    for tolerance in (0, 0.0):
        r = tolerated(tmp_path, produced, tolerance)
        assert not r.passed and r.mismatches_per_column["avg_cpu"] == 1
        assert r.within_tolerance == 0 and r.first_within_tolerance == [] and r.matching == 2
    assert "within tolerance" not in r.summary()


def test_differences_within_tolerance_pass_and_are_counted_apart(tmp_path):
    produced = [("s1", "10:00:00", "10:00:30", "57.95", "46.96", ""),  # both numbers off, within 0.05
                ("s1", "10:00:10", "10:00:40", "81", "90", "CPU and Memory spike"),  # equal
                ("s2", "10:00:00", "10:00:30", "1.2", "2.00", "")]  # 0.05 off: the edge is within
    r = tolerated(tmp_path, produced, 0.05)
    assert r.passed
    assert (r.matching, r.within_tolerance, r.missing, r.extra) == (1, 2, 0, 0)
    assert r.within_tolerance_per_column == {"avg_cpu": 2, "avg_mem": 1}
    assert r.mismatches_per_column == {"avg_cpu": 0, "avg_mem": 0, "alert": 0}
    assert [(m.key[0], m.column, m.expected, m.produced) for m in r.first_within_tolerance] == [
        ("s1", "avg_cpu", "57.9", "57.95"), ("s1", "avg_mem", "47", "46.96"), ("s2", "avg_cpu", "1.25", "1.2")]
    assert r.differing == []  # nothing for late data to explain
    assert "matching 1, within tolerance 2 (+/-0.05; cells avg_cpu=2, avg_mem=1)" in r.summary()
    v = RunValidation(cpu_mem=r, net_disk=None, tolerance=0.05).record()
    assert v.passed and v.tolerance == 0.05 and v.cpu_mem.status == "pass"
    assert v.cpu_mem.within_tolerance == 2 and v.cpu_mem.differing == 0
    assert v.cpu_mem.first_within_tolerance[0].produced == "57.95"


def test_beyond_tolerance_and_alert_texts_are_mismatches(tmp_path):
    produced = [("s1", "10:00:00", "10:00:30", "57.96", "47.05", ""),  # avg_cpu 0.06 off: beyond; avg_mem within
                ("s1", "10:00:10", "10:00:40", "81.01", "90", "CPU spike suspected"),  # number within, text differs
                ("s2", "10:00:00", "10:00:30", "1.25", "2", "")]
    r = tolerated(tmp_path, produced, 0.05)
    assert not r.passed
    assert (r.matching, r.within_tolerance) == (1, 0)  # a window with any difference beyond is a mismatch
    assert r.mismatches_per_column == {"avg_cpu": 1, "avg_mem": 0, "alert": 1}
    assert r.within_tolerance_per_column == {"avg_cpu": 1, "avg_mem": 1}  # the cells within, still counted
    assert [k for _, k in r.differing] == [("s1", "10:00:00", "10:00:30"), ("s1", "10:00:10", "10:00:40")]
    v = RunValidation(cpu_mem=r, net_disk=None, tolerance=0.05).record()
    assert v.cpu_mem.status == "fail" and v.cpu_mem.differing == 2


def test_tolerance_is_decimal_and_never_negative(tmp_path):
    from include.validation import as_tolerance, compare_number

    assert compare_number("0.3", "0.31", as_tolerance(0.01)) == "tolerated"  # 0.01 in binary would be above
    assert compare_number("0.3", "0.32", as_tolerance(0.01)) == "different"
    assert compare_number("5", "5.004", as_tolerance(0)) == "same"  # two decimals, as before
    assert compare_number("5", "x", as_tolerance(1)) == "different"
    for bad in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tolerance"):
            tolerated(tmp_path, ROWS, bad)


def test_records_from_before_tolerances_and_history_fields_read(tmp_path):
    """A validation.json written before tolerance, dataset, mode and alert counts were kept still reads."""
    old = {"run_id": "scheduled__x", "validated_at": "2026-11-20T02:24:00+00:00", "duration_seconds": 1500.0,
           "passed": True, "cpu_mem": GOOD_PART, "net_disk": NA_PART}
    path = tmp_path / "validation.json"
    path.write_text(json.dumps(old))
    record = read_record(path)
    assert record.tolerance is None and record.dataset is None and record.mode is None
    assert record.cpu_mem.within_tolerance == 0 and record.cpu_mem.alerts is None
    assert record.cpu_mem.differing == 0
    with pytest.raises(ValidationFileError, match="tolerance"):
        path.write_text(json.dumps({**old, "tolerance": -1}))
        read_record(path)
