"""Dataset timestamps: both forms, UTC offsets, recording_start across midnight, several files, and every
refusal naming file, line and field."""

from __future__ import annotations

import os
import random
from calendar import timegm
from datetime import datetime, timedelta, timezone

import pytest

from include import dataset
from include.dataset import (DatasetError, format_second, load, parse_datetime, parse_recording_start,
                             resolve_files)

HEADER = "server_id,timestamp,cpu_pct,mem_pct"
HEADER7 = HEADER + ",net_in,net_out,disk_io"
UTC = timezone.utc


def write(folder, rows: list[str], name: str = "d.csv", header: str = HEADER):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def epoch(text: str) -> int:
    return timegm(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timetuple())


def streamed(ds: dataset.Dataset) -> list[tuple[int, list[tuple[str, float, str]]]]:
    return [(g.second, [(ds.servers[s.server], s.values[0], s.original_ts) for s in g.samples])
            for g in ds.stream_groups()]


def grouped(ds: dataset.Dataset) -> list[tuple[int, list[tuple[str, float]]]]:
    return [(g.second, [(ds.servers[ds.server_index[r]], float(ds.values["cpu_pct"][r])) for r in g.rows])
            for g in ds.groups()]


def refused(path_or_paths, **kwargs) -> DatasetError:
    with pytest.raises(DatasetError) as err:
        load(path_or_paths, **kwargs)
    return err.value


# --- the date-time form ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,utc", [
    ("2026-03-01 10:00:00", "2026-03-01 10:00:00"),
    ("2026-03-01T10:00:00", "2026-03-01 10:00:00"),
    ("2026-03-01T10:00:00Z", "2026-03-01 10:00:00"),
    ("2026-03-01 10:00:00Z", "2026-03-01 10:00:00"),
    ("2026-03-01T12:30:00+02:30", "2026-03-01 10:00:00"),
    ("2026-03-01T01:00:00+03:00", "2026-02-28 22:00:00"),  # the offset moves it back across midnight
    ("2026-02-28T19:00:00-05:00", "2026-03-01 00:00:00"),  # and forward
    ("2026-03-01T10:00:00-00:00", "2026-03-01 10:00:00"),
    ("2024-02-29 23:59:59", "2024-02-29 23:59:59"),  # a leap day
    ("1969-12-31 23:59:59", "1969-12-31 23:59:59"),  # before the epoch: negative seconds
])
def test_date_times_become_utc_epoch_seconds(text, utc):
    assert parse_datetime(text) == epoch(utc)
    assert format_second(parse_datetime(text), dated=True) == utc


def test_a_dated_file_lies_on_the_epoch_timeline_and_keeps_each_rows_text(tmp_path):
    path = write(tmp_path, ["s1,2026-03-01T12:00:05+02:00,1,2", "s2,2026-03-01 10:00:05,3,4",
                            "s1,2026-03-01T10:00:00Z,5,6"])
    ds = load(path)
    assert ds.dated and ds.recording_start is None
    start = epoch("2026-03-01 10:00:00")
    assert ds.seconds.dtype.name == "int64"
    assert ds.seconds.tolist() == [start + 5, start + 5, start]
    assert (ds.first_second, ds.last_second, ds.group_count()) == (start, start + 5, 2)
    assert streamed(ds) == [(start, [("s1", 5.0, "2026-03-01T10:00:00Z")]),
                            (start + 5, [("s1", 1.0, "2026-03-01T12:00:05+02:00"),
                                         ("s2", 3.0, "2026-03-01 10:00:05")])]
    assert [g.original_ts for g in ds.stream_groups()] == ["2026-03-01T10:00:00Z", "2026-03-01T12:00:05+02:00"]
    assert ds.format_second(ds.first_second) == "2026-03-01 10:00:00"
    assert ds.epoch_offset(datetime(2030, 1, 1, tzinfo=UTC)) == 0


def test_a_multi_day_recording_streams_in_time_order_across_midnights(tmp_path):
    """Three days and two midnights, every 90 minutes, the file sorted by server (one run each)."""
    begin = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    times = [begin + timedelta(minutes=90 * i) for i in range(40)]  # to 2026-03-04 06:30
    rows = [f"{s},{t:%Y-%m-%dT%H:%M:%S}Z,{i % 100},1" for s in ("a", "b") for i, t in enumerate(times)]
    ds = load(write(tmp_path, rows, "days.csv"))
    assert ds.dated and ds.rows == 80 and ds.group_count() == 40 and len(ds.runs) == 2
    assert ds.format_second(ds.first_second) == "2026-03-01 20:00:00"
    assert ds.format_second(ds.last_second) == "2026-03-04 06:30:00"
    seconds = [g.second for g in ds.stream_groups()]
    assert seconds == [int(t.timestamp()) for t in times]
    assert [(s, [(srv, cpu) for srv, cpu, _ in samples]) for s, samples in streamed(ds)] == grouped(ds)


# --- the time-of-day form ----------------------------------------------------------------------------------

def test_a_time_of_day_file_without_recording_start_is_one_day_as_before(tmp_path):
    ds = load(write(tmp_path, ["s1,23:59:59,1,2", "s1,00:00:00,3,4", "s2,20:52:00,5,6"]))
    assert not ds.dated and ds.recording_start is None
    assert ds.seconds.tolist() == [86_399, 0, 75_120]
    assert (ds.first_second, ds.last_second) == (0, 86_399)
    assert [g.original_ts for g in ds.stream_groups()] == ["00:00:00", "20:52:00", "23:59:59"]
    assert ds.format_second(86_399) == "23:59:59" and ds.format_second(86_400 + 5) == "00:00:05"
    # the date is the replay's (UTC) date: 00:30 at +02:00 on the 2nd is still the 1st in UTC
    started = datetime(2026, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert ds.epoch_offset(started) == epoch("2026-03-01 00:00:00")
    assert ds.epoch_offset(datetime(2026, 3, 2, 0, 30)) == epoch("2026-03-02 00:00:00")  # naive: UTC


@pytest.mark.parametrize("value,second", [
    ("20:52:00", 75_120),  # recording_start's time of day itself: its own date
    ("23:59:59", 86_399),
    ("00:00:00", 86_400),  # before it: the next day
    ("20:51:59", 75_119 + 86_400),
])
def test_recording_start_puts_times_before_its_time_of_day_on_the_next_day(tmp_path, value, second):
    ds = load(write(tmp_path, [f"s1,{value},1,2"]), recording_start="2026-03-01T20:52:00Z")
    assert ds.seconds.tolist() == [second]
    assert ds.format_second(second) == value


def test_a_recording_across_midnight_reads_in_order_whatever_the_row_order(tmp_path):
    times = [75_120 + 30 * i for i in range((86_400 - 75_120 + 2 * 3600 + 30 * 60) // 30 + 1)]  # 20:52 -> 02:30
    rows = [f"{s},{dataset.format_time_of_day(t)},{i % 100},1" for i, t in enumerate(times) for s in ("a", "b")]
    random.Random(14).shuffle(rows)
    start = datetime(2026, 3, 1, 20, 52)  # naive: UTC
    ds = load(write(tmp_path, rows), recording_start=start)
    assert ds.recording_start == start.replace(tzinfo=UTC)
    assert [g.second for g in ds.groups()] == times
    assert (ds.first_second, ds.last_second) == (75_120, 86_400 + 2 * 3600 + 30 * 60)
    assert [g.original_ts for g in ds.stream_groups()][:2] == ["20:52:00", "20:52:30"]
    assert [g.original_ts for g in ds.stream_groups()][-1] == "02:30:00"
    assert [(s, [(srv, cpu) for srv, cpu, _ in samples]) for s, samples in streamed(ds)] == grouped(ds)
    assert ds.epoch_offset(datetime(2030, 1, 1, tzinfo=UTC)) == epoch("2026-03-01 00:00:00")
    assert ds.epoch_offset(datetime(2030, 1, 1)) + ds.last_second == epoch("2026-03-02 02:30:00")


def test_recording_start_with_an_offset_is_taken_in_utc(tmp_path):
    # 00:30 at +02:00 is 22:30 UTC the day before: that date and time of day place the rows
    ds = load(write(tmp_path, ["s1,22:30:00,1,2", "s1,01:00:00,1,2"]), recording_start="2026-03-02T00:30:00+02:00")
    assert ds.recording_start == datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    assert ds.seconds.tolist() == [81_000, 86_400 + 3600]
    assert ds.epoch_offset(datetime(2030, 1, 1, tzinfo=UTC)) == epoch("2026-03-01 00:00:00")
    aware = datetime(2026, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # as a datetime, the same
    assert load(ds.files, recording_start=aware).seconds.tolist() == ds.seconds.tolist()


def test_a_dated_file_refuses_recording_start(tmp_path):
    err = refused(write(tmp_path, ["s1,2026-03-01 10:00:00,1,2"]), recording_start="2026-03-01T09:00:00Z")
    assert (err.line, err.field) == (2, "timestamp") and "recording_start" in str(err)


@pytest.mark.parametrize("text,want", [
    (None, None), ("", None), ("  ", None),
    ("2026-03-01T20:52:00", datetime(2026, 3, 1, 20, 52, tzinfo=UTC)),
    ("2026-03-01 20:52:05Z", datetime(2026, 3, 1, 20, 52, 5, tzinfo=UTC)),
    ("2026-03-01T20:52", datetime(2026, 3, 1, 20, 52, tzinfo=UTC)),  # what a browser's date-time field sends
    ("2026-03-01T20:52:00-01:00", datetime(2026, 3, 1, 21, 52, tzinfo=UTC)),
])
def test_parse_recording_start(text, want):
    assert parse_recording_start(text) == want


@pytest.mark.parametrize("text,words", [
    ("2026-03-01T20:52:00.5", "fraction of a second"),
    ("2026-03-01T20:52:00.000Z", "fraction of a second"),
    ("yesterday", "not an ISO date-time"),
    ("2026-03-01", "not an ISO date-time"),
    ("20:52:00", "not an ISO date-time"),
    ("2026-02-30T20:52:00", "not a valid date"),
    ("2026-03-01T24:00:00", "no time of day"),
    ("2026-03-01 20:60", "no time of day"),
    ("2026-03-01T20:52:00+25:00", "impossible UTC offset"),
])
def test_parse_recording_start_refuses_naming_the_param(text, words):
    with pytest.raises(ValueError, match=words) as err:
        parse_recording_start(text)
    assert str(err.value).startswith("recording_start: ")


def test_load_refuses_a_recording_start_with_a_fraction_of_a_second(tmp_path):
    with pytest.raises(ValueError, match="recording_start: .*fraction of a second"):
        load(write(tmp_path, ["s1,10:00:00,1,2"]), recording_start=datetime(2026, 3, 1, 20, 52, 0, 500))


# --- refusals, each naming file, line and field -------------------------------------------------------------

@pytest.mark.parametrize("rows,line,words", [
    (["s1,10:00:00.5,1,2"], 2, "fraction of a second"),
    (["s1,10:00:00,1,2", "s1,10:00:01,5,2"] + ["s1,10:00:02,1,2", "s1,10:00:03.000,1,2"], 5, "fraction of a second"),
    (["s1,2026-03-01 10:00:00.5,1,2"], 2, "fraction of a second"),
    (["s1,2026-03-01T10:00:00,250Z,1,2"], 2, None),  # an unquoted comma: a field too many
    (["s1,2026-03-01T10:00:00.000Z,1,2"], 2, "fraction of a second"),
    (["s1,2026-02-30 10:00:00,1,2"], 2, "not a valid date"),
    (["s1,2025-02-29 10:00:00,1,2"], 2, "not a valid date"),
    (["s1,2026-13-01 10:00:00,1,2"], 2, "not a valid date"),
    (["s1,2026-00-10 10:00:00,1,2"], 2, "not a valid date"),
    (["s1,0000-01-01 10:00:00,1,2"], 2, "not a valid date"),
    (["s1,2026-03-01 24:00:00,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01 10:60:00,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01 10:00:60,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01 10:00,1,2"], 2, "not a date-time"),
    (["s1,2026-3-01 10:00:00,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01_10:00:00,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01t10:00:00,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01 10:00:00z,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01 10:00:00 UTC,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01 10:00:00+25:00,1,2"], 2, "impossible UTC offset"),
    (["s1,2026-03-01 10:00:00+05:60,1,2"], 2, "impossible UTC offset"),
    (["s1,2026-03-01 10:00:00+0500,1,2"], 2, "not a date-time"),
    (["s1,2026-03-01 10:00:00+05,1,2"], 2, "not a date-time"),
    (["s1,٢٠٢٦-03-01 10:00:00,1,2"], 2, "not a date-time"),  # non-ASCII digits
    (["s1,١٠:00:00,1,2"], 2, "time of day"),
    (["s1,24:00:00,1,2"], 2, "time of day"),
    (["s1,10:00:00Z,1,2"], 2, "time of day"),
    # mixed forms, either way round, naming the row that fixed the form
    (["s1,10:00:00,1,2", "s1,10:00:05,1,2", "s1,2026-03-01 10:00:10,1,2"], 4,
     "is a date-time, but line 2 ('10:00:00') is a time of day"),
    (["s1,2026-03-01T10:00:00Z,1,2", "s1,10:00:05,1,2"], 3,
     "is a time of day HH:MM:SS, but line 2 ('2026-03-01T10:00:00Z') is a date-time"),
])
def test_bad_timestamps_name_file_line_and_field(tmp_path, rows, line, words):
    path = write(tmp_path, rows, "bad data.csv")
    err = refused(path)
    assert err.path == str(path) and err.line == line and str(path) in str(err) and f"line {line}" in str(err)
    if words is None:
        assert "expected 4 fields" in str(err)
    else:
        assert err.field == "timestamp" and "field 'timestamp'" in str(err)
        assert words in str(err), str(err)


def test_duplicates_within_a_file_name_both_lines_even_written_two_ways(tmp_path):
    err = refused(write(tmp_path, ["s1,2026-03-01T10:00:00Z,1,2", "s2,2026-03-01T10:00:00Z,1,2",
                                   "s1,2026-03-01T12:00:00+02:00,1,2"]))
    assert (err.line, err.field) == (4, "timestamp")
    assert "duplicate sample for server 's1' at 2026-03-01 10:00:00 (first seen on line 2;" in str(err)
    assert "'2026-03-01T10:00:00Z' and '2026-03-01T12:00:00+02:00' are the same second" in str(err)
    # a time-of-day recording across midnight: 00:00:00 twice on the second day
    err = refused(write(tmp_path, ["s1,23:00:00,1,2", "s1,00:00:00,1,2", "s1,00:00:00,1,2"], "t.csv"),
                  recording_start="2026-03-01T22:00:00")
    assert err.line == 4 and "at 00:00:00 (first seen on line 3)" in str(err)


# --- several files -----------------------------------------------------------------------------------------

def three_files(folder):
    write(folder, ["a,2026-03-01T23:59:50Z,1,2", "a,2026-03-02T00:00:10Z,3,2"], "2_late.csv")
    write(folder, ["a,2026-03-01T23:59:40Z,4,2", "b,2026-03-01T23:59:50Z,5,2", "b,2026-03-02T00:00:00Z,6,2"],
          "1_early.csv")
    write(folder, ["c,2026-03-02T01:00:00+01:00,7,2"], "3_zone.csv")
    (folder / "notes.txt").write_text("not a dataset")
    (folder / "sub.csv").mkdir()  # a folder named like a CSV is not a file


def test_a_folder_is_its_csv_files_by_name_merged_in_time_order(tmp_path):
    three_files(tmp_path / "rec")
    files = resolve_files(tmp_path / "rec")
    assert [f.name for f in files] == ["1_early.csv", "2_late.csv", "3_zone.csv"]
    ds = load(tmp_path / "rec")
    assert ds.files == tuple(files) and ds.path == tmp_path / "rec" and ds.rows == 6 and ds.servers == ("a", "b", "c")
    t = epoch("2026-03-01 23:59:40")
    # rows of one second keep file order (files by name), whatever the run they come from
    want = [(t, [("a", 4.0, "2026-03-01T23:59:40Z")]),
            (t + 10, [("b", 5.0, "2026-03-01T23:59:50Z"), ("a", 1.0, "2026-03-01T23:59:50Z")]),
            (t + 20, [("b", 6.0, "2026-03-02T00:00:00Z"), ("c", 7.0, "2026-03-02T01:00:00+01:00")]),
            (t + 30, [("a", 3.0, "2026-03-02T00:00:10Z")])]
    assert streamed(ds) == want
    assert grouped(ds) == [(s, [(srv, cpu) for srv, cpu, _ in samples]) for s, samples in want]
    assert (ds.first_second, ds.last_second, ds.group_count()) == (t, t + 30, 4)


def test_a_glob_relative_to_a_root_and_a_plain_file(tmp_path):
    three_files(tmp_path / "data" / "rec")
    root = tmp_path

    def resolve(text: str):
        return root / text

    assert [f.name for f in resolve_files("data/rec/[12]_*.csv", resolve)] == ["1_early.csv", "2_late.csv"]
    assert resolve_files("data/rec/3_zone.csv", resolve) == [root / "data/rec/3_zone.csv"]
    # a missing plain file is left for load to name
    assert resolve_files("data/rec/nope.csv", resolve) == [root / "data/rec/nope.csv"]
    assert "no such dataset file" in str(refused([root / "data/rec/nope.csv"]))
    # a file whose name holds glob characters is still itself
    write(root / "data", ["a,10:00:00,1,2"], "odd[1].csv")
    assert resolve_files("data/odd[1].csv", resolve) == [root / "data/odd[1].csv"]
    ds = load(str(root / "data/rec/*.csv"))
    assert ds.rows == 6 and [f.name for f in ds.files] == ["1_early.csv", "2_late.csv", "3_zone.csv"]


def test_an_empty_folder_or_glob_is_refused_naming_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    err = refused(tmp_path / "empty")
    assert err.path == str(tmp_path / "empty") and "no *.csv file" in str(err)
    err = refused(str(tmp_path / "empty" / "*.csv"))
    assert err.path == str(tmp_path / "empty" / "*.csv") and "no file matches" in str(err)
    assert "no dataset file given" in str(refused([]))


def test_a_duplicate_across_files_names_both_files_and_lines(tmp_path):
    first = write(tmp_path, ["a,2026-03-01T10:00:00Z,1,2", "a,2026-03-01T10:00:05Z,1,2"], "1.csv")
    second = write(tmp_path, ["b,2026-03-01T10:00:05Z,1,2", "a,2026-03-01T11:00:05+01:00,1,2"], "2.csv")
    err = refused(tmp_path)
    assert (err.path, err.line, err.field) == (str(second), 3, "timestamp")
    assert f"first seen in {first}, line 3" in str(err) and str(second) in str(err)


def test_mixed_forms_across_files_name_both_files(tmp_path):
    first = write(tmp_path, ["a,10:00:00,1,2"], "1.csv")
    second = write(tmp_path, ["a,2026-03-01 10:00:00,1,2"], "2.csv")
    err = refused(tmp_path)
    assert (err.path, err.line, err.field) == (str(second), 2, "timestamp")
    assert f"but {first}, line 2 ('10:00:00') is a time of day" in str(err)


def test_differing_columns_across_files_name_both_files(tmp_path):
    first = write(tmp_path, ["a,10:00:00,1,2"], "1.csv")
    second = write(tmp_path, ["a,10:00:05,1,2,3,4,5"], "2.csv", header=HEADER7)
    err = refused(tmp_path)
    assert (err.path, err.line) == (str(second), 1)
    assert str(first) in str(err) and "same columns" in str(err)


def test_a_file_of_a_set_with_no_rows_is_refused_naming_it(tmp_path):
    write(tmp_path, ["a,10:00:00,1,2"], "1.csv")
    empty = write(tmp_path, [], "2.csv")
    err = refused(tmp_path)
    assert (err.path, err.line) == (str(empty), 2) and "no rows" in str(err)


def test_a_time_of_day_set_of_files_with_recording_start(tmp_path):
    write(tmp_path, ["a,00:00:10,1,2", "a,23:00:00,2,2"], "a.csv")
    write(tmp_path, ["b,23:30:00,3,2", "b,01:00:00,4,2"], "b.csv")
    ds = load(tmp_path, recording_start="2026-03-01T22:00:00Z")
    assert [(s, [srv for srv, _, _ in samples]) for s, samples in streamed(ds)] == [
        (82_800, ["a"]), (84_600, ["b"]), (86_410, ["a"]), (90_000, ["b"])]


def test_streaming_many_files_with_few_open_and_the_in_memory_fallback_agree(tmp_path, monkeypatch):
    rng = random.Random(5)
    for f in range(7):
        rows = [f"s{f % 3},{dataset.format_time_of_day(3600 * f + 7 * i)},{rng.randint(0, 100)},1"
                for i in range(50)]
        rng.shuffle(rows)  # many runs per file
        write(tmp_path, rows, f"{f}.csv")
    monkeypatch.setattr(dataset, "MAX_OPEN_FILES", 2)
    ds = load(tmp_path)
    assert ds.runs is not None and len({r.file for r in ds.runs}) == 7
    open_before = len(os.listdir("/proc/self/fd"))
    by_runs, most_open = [], 0
    for g in ds.stream_groups():
        most_open = max(most_open, len(os.listdir("/proc/self/fd")) - open_before)
        by_runs.append((g.second, [(ds.servers[s.server], s.values[0], s.original_ts) for s in g.samples]))
    assert most_open == 2 and len(os.listdir("/proc/self/fd")) == open_before  # all closed at the end
    assert by_runs == streamed(ds)
    monkeypatch.setattr(dataset, "MAX_STREAM_RUNS", 10)
    in_memory = load(tmp_path)
    assert in_memory.runs is None
    assert streamed(in_memory) == by_runs
    assert [(s, [(srv, cpu) for srv, cpu, _ in samples]) for s, samples in by_runs] == grouped(ds)
    assert len(by_runs) == ds.group_count() == 350


def test_produce_metrics_confines_every_file_of_a_folder(tmp_path, monkeypatch):
    """A folder inside the data root may hold a link to a file outside it: refused before anything is sent."""
    from airflow.sdk.exceptions import AirflowFailException

    from include import producer, replay

    root, outside = tmp_path / "data", tmp_path / "elsewhere"
    write(root / "rec", ["a,10:00:00,1,2"], "1.csv")
    (root / "rec" / "2.csv").symlink_to(write(outside, ["b,10:00:00,1,2"], "secret.csv"))
    monkeypatch.setenv("METRICS_REPLAY_DATA_ROOTS", str(root))
    monkeypatch.setenv("METRICS_REPLAY_OUTPUT_ROOTS", str(tmp_path / "out"))
    monkeypatch.setattr(replay, "kafka_config", lambda conn_id: {"bootstrap.servers": "127.0.0.1:9"})

    def must_not_produce(*args, **kwargs):
        raise AssertionError("produced from a folder holding a file outside the data root")

    monkeypatch.setattr(producer, "produce", must_not_produce)
    for given in (str(root / "rec"), str(root / "rec" / "*.csv")):
        with pytest.raises(AirflowFailException, match=r"dataset_path: '.*2\.csv'.*outside the allowed data"):
            replay.produce_metrics("kafka_default", given, str(tmp_path / "out" / "run"), "run", 0)
