"""The validator: per-key comparison, counts, first mismatches, and clear errors for bad files."""

from __future__ import annotations

import json

import pytest

from include.formatting import csv_text
from include.reference import CPU_MEM_HEADER
from include.validation import RunValidation, ValidationInputError, compare

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
    d = RunValidation(cpu_mem=r, net_disk=None).to_dict()
    assert d["passed"] is False and d["cpu_mem"]["status"] == "fail" and d["net_disk"]["status"] == "not applicable"
    assert json.loads(json.dumps(d))["cpu_mem"]["missing"] == 1


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
