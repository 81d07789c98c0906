"""Corrupted datasets (property-based): each fails before anything is sent, naming file, line and field."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.dataset import DatasetError, load
from kafka_helpers import end_offsets

HEADER = ["server_id", "timestamp", "cpu_pct", "mem_pct", "net_in", "net_out", "disk_io"]


def good_rows(n: int) -> list[list[str]]:
    return [[f"server_{i % 3}", f"10:{i // 3 // 60:02d}:{i // 3 % 60:02d}", "12.5", "40", "100", "50", "7"]
            for i in range(n)]


# Each corruption: (rows, row index) -> (file bytes, expected line, expected field or None, words)
def corrupt(kind: str, rows: list[list[str]], i: int, junk: str):
    line = i + 2  # header is line 1
    rows = [list(r) for r in rows]
    if kind == "missing column":
        return _csv(HEADER[:-1], [r[:-1] for r in rows]), 1, "disk_io", "missing column"
    if kind == "duplicated column":
        return _csv(HEADER + ["cpu_pct"], [r + ["1"] for r in rows]), 1, "cpu_pct", "duplicated column"
    if kind == "extra field":
        rows[i] = rows[i] + ["1"]
        return _csv(HEADER, rows), line, None, "expected 7 fields, got 8"
    if kind == "blank line in the middle":
        data = _csv(HEADER, rows[:i + 1] + [[""]] + rows[i + 1:] + [rows[i][:1] + ["11:00:00"] + rows[i][2:]])
        return data, line + 1, None, "blank line"
    if kind == "short row":
        rows[i] = rows[i][:4]
        return _csv(HEADER, rows), line, "net_in", "expected 7 fields"
    if kind == "non-numeric":
        rows[i][2] = "x" + junk
        return _csv(HEADER, rows), line, "cpu_pct", "not a number"
    if kind == "nan":
        rows[i][3] = "NaN"
        return _csv(HEADER, rows), line, "mem_pct", "not a finite number"
    if kind == "percent out of range":
        rows[i][2] = "100.01"
        return _csv(HEADER, rows), line, "cpu_pct", "outside 0..100"
    if kind == "malformed time":
        rows[i][1] = "10:61:00"
        return _csv(HEADER, rows), line, "timestamp", "time of day"
    if kind == "duplicate":
        rows.insert(i + 1, list(rows[i]))
        return _csv(HEADER, rows), line + 1, "timestamp", "duplicate sample"
    if kind == "non-utf8":
        data = _csv(HEADER, rows)
        lines = data.split(b"\n")
        lines[i + 1] = lines[i + 1].replace(b"server", b"serv\xe9r", 1)
        return b"\n".join(lines), line, None, "not UTF-8"
    if kind == "10 MB line":
        rows[i][0] = "s" * 10_000_000
        return _csv(HEADER, rows), line, None, "longer than"
    if kind == "empty":
        return b"", None, None, "empty"
    if kind == "header only":
        return _csv(HEADER, []), 2, None, "no rows"
    raise AssertionError(kind)


def _csv(header, rows) -> bytes:
    return ("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n").encode()


KINDS = ["missing column", "duplicated column", "extra field", "blank line in the middle", "short row", "non-numeric", "nan", "percent out of range",
         "malformed time", "duplicate", "non-utf8", "10 MB line", "empty", "header only"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), n=st.integers(1, 30), data=st.data(),
       junk=st.text(alphabet="abc!?", max_size=5))
def test_corrupted_datasets_name_file_line_and_field(tmp_path, kind, n, data, junk):
    i = data.draw(st.integers(0, n - 1))
    content, line, field, words = corrupt(kind, good_rows(n), i, junk)
    path = tmp_path / "corrupt data.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as err:
        load(path)
    message = str(err.value)
    assert str(path) in message and words in message, message
    assert err.value.line == line, message
    if field is not None:
        assert err.value.field == field and repr(field) in message, message


@pytest.mark.integration
def test_corrupt_file_fails_produce_before_sending_anything(tmp_path, kafka_config, airflow_connections):
    from include import replay
    from include.contract import TOPICS
    from include.topics import ensure_topics

    ensure_topics(kafka_config, TOPICS, partitions=1, replication=1)
    rows = good_rows(200)
    rows[150][2] = "oops"  # far down the file: a streaming producer would already have sent 150 rows
    path = tmp_path / "late error.csv"
    path.write_bytes(_csv(HEADER, rows))
    before = {t: end_offsets(kafka_config, t) for t in TOPICS}
    from airflow.sdk.exceptions import AirflowFailException

    # failed for good (no retry can fix the file), the message naming file, line and field
    with pytest.raises(AirflowFailException, match=r"late error\.csv, line 152, field 'cpu_pct'"):
        replay.produce_metrics("kafka_default", str(path), str(tmp_path / "out"), "corrupt-run", 0)
    assert {t: end_offsets(kafka_config, t) for t in TOPICS} == before
    assert not (tmp_path / "out" / "manifest.json").exists()
