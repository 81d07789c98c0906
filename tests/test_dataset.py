"""Dataset parsing, checking and grouping; every bad file fails naming file, line and field."""

from __future__ import annotations

import pytest

from include.dataset import DatasetError, format_time_of_day, load, parse_time_of_day

HEADER = "server_id,timestamp,cpu_pct,mem_pct"
HEADER7 = HEADER + ",net_in,net_out,disk_io"


def write(tmp_path, text: str | bytes, name: str = "d.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_groups_in_time_order_when_file_is_sorted_by_server(tmp_path):
    path = write(tmp_path, f"{HEADER}\ns1,10:00:05,1,2\ns1,10:00:00,3,4\ns2,10:00:00,5,6\ns2,10:00:05,7,8\n")
    ds = load(path)
    groups = list(ds.groups())
    assert [g.original_ts for g in groups] == ["10:00:00", "10:00:05"]
    assert [ds.servers[ds.server_index[i]] for i in groups[0].rows] == ["s1", "s2"]  # file order inside a group
    assert [float(ds.values["cpu_pct"][i]) for i in groups[1].rows] == [1.0, 7.0]
    assert ds.group_count() == 2 and ds.first_second == 36000 and ds.rows == 4 and not ds.has_net_disk


def test_seven_columns_and_a_path_with_spaces(tmp_path):
    ds = load(write(tmp_path, f"{HEADER7}\ns1,00:00:01,1.5,2,100,200,300\n", name="my data.csv"))
    assert ds.has_net_disk and ds.values["disk_io"][0] == 300.0
    assert ds.metric_fields == ("cpu_pct", "mem_pct", "net_in", "net_out", "disk_io")


@pytest.mark.parametrize("text,line,field,words", [
    ("server_id,timestamp,cpu_pct\ns1,10:00:00,1\n", 1, "mem_pct", "missing column"),
    (f"{HEADER},cpu_pct\ns1,10:00:00,1,2,3\n", 1, "cpu_pct", "duplicated column"),
    (f"{HEADER},net_in\ns1,10:00:00,1,2,3\n", 1, "net_out", "come together"),
    (f"{HEADER}\ns1,10:00:00,1\n", 2, "mem_pct", "expected 4 fields"),
    (f"{HEADER}\ns1,10:00:00,1,2\ns1,10:00:05,abc,2\n", 3, "cpu_pct", "not a number"),
    (f"{HEADER}\ns1,10:00:00,nan,2\n", 2, "cpu_pct", "not a finite number"),
    (f"{HEADER}\ns1,10:00:00,1,inf\n", 2, "mem_pct", "not a finite number"),
    (f"{HEADER}\ns1,10:00:00,100.5,2\n", 2, "cpu_pct", "outside 0..100"),
    (f"{HEADER}\ns1,10:00:00,1,-1\n", 2, "mem_pct", "outside 0..100"),
    (f"{HEADER7}\ns1,10:00:00,1,2,-5,1,1\n", 2, "net_in", "negative"),
    (f"{HEADER}\ns1,25:00:00,1,2\n", 2, "timestamp", "time of day"),
    (f"{HEADER}\ns1,1:2:3,1,2\n", 2, "timestamp", "time of day"),
    (f"{HEADER}\n,10:00:00,1,2\n", 2, "server_id", "empty"),
    (f"{HEADER}\ns1,10:00:00,1,2\ns1,10:00:00,3,4\n", 3, "timestamp", "first seen on line 2"),
    ("", None, None, "empty"),
    (f"{HEADER}\n", 2, None, "no rows"),
])
def test_bad_input_names_file_line_and_field(tmp_path, text, line, field, words):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as err:
        load(path)
    message = str(err.value)
    assert str(path) in message and words in message
    assert err.value.line == line and err.value.field == field
    if line is not None:
        assert f"line {line}" in message


def test_non_utf8_and_a_10_mb_line(tmp_path):
    with pytest.raises(DatasetError, match="line 3.*not UTF-8"):
        load(write(tmp_path, f"{HEADER}\ns1,10:00:00,1,2\n".encode() + b"s\xff1,10:00:05,1,2\n"))
    with pytest.raises(DatasetError, match="line 2.*longer than"):
        load(write(tmp_path, f"{HEADER}\ns1,10:00:00,1,{'9' * 10_000_000}\n", name="long.csv"))


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset file"):
        load(tmp_path / "nope.csv")


def test_time_of_day_round_trip():
    for text in ("00:00:00", "20:52:05", "23:59:59"):
        assert format_time_of_day(parse_time_of_day(text)) == text
    assert format_time_of_day(86_400 + 5) == "00:00:05"


def test_the_real_day_reads_as_one_day_of_times_of_day(real_data):
    """A time-of-day file without recording_start is what it always was: seconds since midnight, one day."""
    import csv

    path, _ = real_data
    ds = load(path)
    with path.open() as fh:
        texts = [row["timestamp"] for row in csv.DictReader(fh)]
    assert not ds.dated and ds.recording_start is None and ds.files == (path,) and ds.path == path
    assert ds.seconds.tolist() == [parse_time_of_day(t) for t in texts]
    assert (ds.first_second, ds.last_second) == (min(ds.seconds), max(ds.seconds)) == (75_120, 82_315)
    assert ds.group_count() == len(set(texts)) == 1440
    assert ds.format_second(ds.first_second) == "20:52:00"
    streamed = list(ds.stream_groups())
    assert [g.second for g in streamed] == [g.second for g in ds.groups()]
    assert all(s.original_ts == g.original_ts == format_time_of_day(g.second) for g in streamed for s in g.samples)


def test_streamed_samples_are_the_grouped_rows_in_the_same_order(tmp_path):
    rows = [f"s{i % 4},10:{i // 4 // 60:02d}:{i // 4 % 60:02d},{i % 100},{i % 7}" for i in range(400)]
    ds = load(write(tmp_path, HEADER + "\n" + "\n".join(sorted(rows)) + "\n"))  # sorted by server: 4 runs
    assert len(ds.runs) == 4
    grouped = [(g.second, [(int(ds.server_index[r]), float(ds.values["cpu_pct"][r])) for r in g.rows])
               for g in ds.groups()]
    assert [(g.second, [(s.server, s.values[0]) for s in g.samples]) for g in ds.stream_groups()] == grouped
