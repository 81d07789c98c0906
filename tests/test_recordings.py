"""Recordings as teams have them (issue 19): spreadsheet and export quirks accepted, columns by name, compressed
files read as streams, the check that sends nothing; and every error that stays an error, naming file, line and
field."""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
from pathlib import Path

import pytest

from include import compressed, dataset
from include.dataset import DatasetError, check, load, resolve_files
from include.paths import DEFAULT_DATASET
from recording_helpers import COMPRESSORS, quirky_text, write_quirky

HEADER = "server_id,timestamp,cpu_pct,mem_pct"
ROWS = ["s1,10:00:00,1,2", "s1,10:00:05,3,4", "s2,10:00:00,5,6", "s2,10:00:05,7,8"]  # sorted by server: 2 runs
WANT = [(36_000, [("s1", (1.0, 2.0), "10:00:00"), ("s2", (5.0, 6.0), "10:00:00")]),
        (36_005, [("s1", (3.0, 4.0), "10:00:05"), ("s2", (7.0, 8.0), "10:00:05")])]


def write(folder, data: str | bytes, name: str = "d.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    raw = data.encode() if isinstance(data, str) else data
    suffix = next((s for s in sorted(COMPRESSORS, key=len, reverse=True) if name.endswith(s)), ".csv")
    path.write_bytes(COMPRESSORS[suffix](raw))
    return path


def streamed(ds: dataset.Dataset) -> list[tuple[int, list[tuple[str, tuple[float, ...], str]]]]:
    return [(g.second, [(ds.servers[s.server], s.values, s.original_ts) for s in g.samples])
            for g in ds.stream_groups()]


def refused(path, **kwargs) -> DatasetError:
    with pytest.raises(DatasetError) as err:
        load(path, **kwargs)
    return err.value


def clean_text(rows=ROWS, header=HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# --- each quirk on its own ------------------------------------------------------------------------------------

@pytest.mark.parametrize("quirk,text", [
    ("plain", clean_text()),
    ("UTF-8 BOM", "\ufeff" + clean_text()),
    ("CRLF line ends", clean_text().replace("\n", "\r\n")),
    ("blank lines at the end", clean_text() + "\n\n"),
    ("blank CRLF lines and spaces at the end", clean_text().replace("\n", "\r\n") + "\r\n   \r\n"),
    ("an empty-fields row at the end (a spreadsheet's touched row)", clean_text() + ",,,\n"),
    ("spaces around header names", clean_text(header=" server_id , timestamp,cpu_pct ,  mem_pct")),
    ("columns in another order", clean_text([",".join([r.split(",")[i] for i in (3, 1, 0, 2)]) for r in ROWS],
                                            "mem_pct,timestamp,server_id,cpu_pct")),
    ("quoted fields", clean_text(['"s1","10:00:00","1","2"', *ROWS[1:]])),
])
def test_each_quirk_reads_as_the_clean_file(tmp_path, quirk, text):
    ds = load(write(tmp_path, text))
    assert streamed(ds) == WANT, quirk
    assert ds.rows == 4 and ds.columns == tuple(HEADER.split(",")) and ds.ignored_columns == {}
    assert [(g.second, [ds.servers[ds.server_index[r]] for r in g.rows]) for g in ds.groups()] == [
        (36_000, ["s1", "s2"]), (36_005, ["s1", "s2"])]


def test_extra_columns_are_ignored_and_counted_by_name_or_position(tmp_path):
    # pandas' to_csv writes its index as a first column with an empty name; a label column; a name written twice.
    rows = [f"{i},{r},eu,x,y" for i, r in enumerate(ROWS)]
    ds = load(write(tmp_path, clean_text(rows, f",{HEADER},region,note,note")))
    assert streamed(ds) == WANT
    assert ds.ignored_columns == {"(unnamed) (column 1)": 4, "region": 4, "note (column 7)": 4,
                                  "note (column 8)": 4}


def test_columns_in_another_order_with_net_disk_keep_the_metric_order(tmp_path):
    header = "disk_io,net_out,mem_pct,server_id,net_in,timestamp,cpu_pct"
    ds = load(write(tmp_path, clean_text(["9,8,2,s1,7,10:00:00,1"], header)))
    assert ds.metric_fields == ("cpu_pct", "mem_pct", "net_in", "net_out", "disk_io") and ds.has_net_disk
    assert streamed(ds) == [(36_000, [("s1", (1.0, 2.0, 7.0, 8.0, 9.0), "10:00:00")])]
    assert [float(ds.values[c][0]) for c in ds.metric_fields] == [1.0, 2.0, 7.0, 8.0, 9.0]


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst"])
def test_a_compressed_file_reads_as_the_plain_one(tmp_path, suffix):
    ds = load(write(tmp_path, clean_text(), f"d{suffix}"))
    assert streamed(ds) == WANT and ds.rows == 4
    assert check(ds.files[0]).files[0].compression == compressed.compression(f"d{suffix}")


def test_a_non_ascii_server_id_streams_from_the_right_byte(tmp_path):
    """Runs start at byte offsets: a multi-byte character (and a BOM) before them must not shift the reads."""
    rows = ["sérvér-1,10:00:00,1,2", "sérvér-1,10:00:05,3,4", "s2,10:00:00,5,6", "s2,10:00:05,7,8"]
    for name in ("d.csv", "d.csv.gz"):
        ds = load(write(tmp_path / name, "\ufeff" + clean_text(rows), name))
        assert len(ds.runs) == 2
        assert [[s for s, _, _ in samples] for _, samples in streamed(ds)] == [["sérvér-1", "s2"]] * 2


# --- everything at once, on the default dataset --------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst"])
def test_every_quirk_at_once_streams_the_same_samples_as_the_clean_file(tmp_path, suffix):
    clean = load(DEFAULT_DATASET)
    quirky = load(write_quirky(DEFAULT_DATASET, tmp_path / f"metrics{suffix}"))
    assert quirky.ignored_columns == {"region": clean.rows}
    assert (quirky.columns, quirky.servers, quirky.rows) == (clean.columns, clean.servers, clean.rows)
    assert streamed(quirky) == streamed(clean)


# --- compressed streaming: front to back, or unpacked to a temporary file that goes away ---------------------

def logged(capfd, caplog) -> str:
    """What was logged, wherever Airflow's logging set-up (if a test before imported Airflow) sent it."""
    return capfd.readouterr().out + "\n" + caplog.text


def spool_folders() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("metrics-replay-unpacked-")}


def test_a_time_ordered_compressed_file_streams_front_to_back_without_a_temporary_copy(tmp_path, capfd, caplog):
    rows = sorted(ROWS, key=lambda r: r.split(",")[1])  # in time order: one run
    ds = load(write(tmp_path, clean_text(rows), "d.csv.xz"))
    assert len(ds.runs) == 1 and dataset.front_to_back(ds.files, ds.runs) == {0}
    before = spool_folders()
    with caplog.at_level(logging.INFO, logger="include.dataset"):
        assert streamed(ds) == WANT
    assert "Unpacked" not in logged(capfd, caplog) and spool_folders() == before


def test_a_compressed_file_of_several_runs_is_unpacked_once_and_the_copy_removed(tmp_path, capfd, caplog):
    ds = load(write(tmp_path, clean_text(), "d.csv.zst"))
    assert len(ds.runs) == 2 and dataset.front_to_back(ds.files, ds.runs) == frozenset()
    before = spool_folders()
    seen_during = set()
    with caplog.at_level(logging.INFO, logger="include.dataset"):
        for group in ds.stream_groups():
            seen_during |= spool_folders() - before
            assert group.samples
    assert len(seen_during) == 1 and spool_folders() == before  # one copy while streaming, gone after
    text = logged(capfd, caplog)
    assert text.count("Unpacked") == 1 and "zstd" in text


def test_a_folder_of_compressed_and_plain_files_in_any_column_order(tmp_path, monkeypatch):
    """Nights one per file, some compressed, columns ordered differently per file; more time-disjoint
    compressed files than may decompress at once."""
    monkeypatch.setattr(dataset, "MAX_OPEN_STREAMS", 2)
    folder = tmp_path / "rec"
    suffixes = [".csv.gz", ".csv", ".csv.bz2", ".csv.xz", ".csv.zst", ".csv.gz"]
    want = []
    for night, suffix in enumerate(suffixes):
        day = f"2026-03-0{night + 1}"
        rows = [(f"s{k}", f"{day}T10:00:0{i}Z", float(night * 10 + i), float(k)) for i in range(3) for k in (1, 2)]
        if night % 2:
            text = clean_text([f"{c},{m},{s},{t}" for s, t, c, m in rows], "cpu_pct,mem_pct,server_id,timestamp")
        else:
            text = clean_text([f"{s},{t},{c},{m}" for s, t, c, m in rows])
        write(folder, text, f"night-{night}{suffix}")
        want += [(t, s, c) for s, t, c, _ in rows]
    (folder / "notes.txt").write_text("not a recording")
    (folder / "old.csv.tar").write_bytes(b"not one either")
    assert [p.name for p in resolve_files(folder)] == [f"night-{n}{s}" for n, s in enumerate(suffixes)]
    ds = load(folder)
    assert dataset.front_to_back(ds.files, ds.runs) == {0, 2, 3, 4, 5}  # every compressed file: one run each
    assert [(s.original_ts, ds.servers[s.server], s.values[0]) for g in ds.stream_groups() for s in g.samples] == want


def test_front_to_back_only_for_compressed_single_runs_that_do_not_overlap_in_time():
    paths = [Path(n) for n in ("a.csv.gz", "b.csv.gz", "c.csv", "d.csv.xz", "e.csv.zst", "f.csv.bz2")]
    runs = [dataset.Run(0, 1, 0, 1, file=0, first_second=0, last_second=100),
            dataset.Run(0, 1, 1, 1, file=1, first_second=100, last_second=200),  # touches a: fine
            dataset.Run(0, 1, 2, 1, file=2, first_second=0, last_second=500),  # plain: read anywhere
            dataset.Run(0, 1, 3, 1, file=3, first_second=300, last_second=400),
            dataset.Run(0, 1, 4, 1, file=4, first_second=420, last_second=450),  # two runs: unpacked
            dataset.Run(0, 1, 5, 1, file=4, first_second=0, last_second=10),
            dataset.Run(0, 1, 6, 1, file=5, first_second=350, last_second=450)]  # overlaps d
    assert dataset.front_to_back(paths, runs) == {0, 1}


# --- errors that stay errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,line,field,words", [
    (clean_text(header="timestamp,cpu_pct,mem_pct,region"), 1, "server_id", "missing column"),
    (clean_text([r + ",1" for r in ROWS], HEADER + ",server_id"), 1, "server_id",
     "duplicated column (columns 1 and 5)"),
    (clean_text([r + ",1" for r in ROWS], HEADER + ", mem_pct "), 1, "mem_pct", "duplicated column"),
    (clean_text([r + ",1,2,3,4" for r in ROWS], HEADER + ",net_in,net_out,disk_io,net_in"), 1, "net_in",
     "duplicated column"),
    (clean_text([r + ",1,2" for r in ROWS], HEADER + ",net_in,disk_io"), 1, "net_out", "come together"),
    (clean_text(ROWS[:2] + [""] + ROWS[2:]), 4, None, "blank line"),
    (clean_text(ROWS[:2] + [",,,", "  "] + ROWS[2:]), 4, None, "blank line"),
    (clean_text(ROWS[:1] + ["s1,10:00:05,3,4,5"] + ROWS[2:]), 3, None, "expected 4 fields, got 5"),
    (clean_text(ROWS[:1] + ["s1,10:00:05,3"] + ROWS[2:]), 3, "mem_pct", "expected 4 fields, got 3"),
    (clean_text(["1,10:00:00,s1,2"], "cpu_pct,timestamp,server_id,mem_pct"), None, None, None),
    (clean_text(["2,10:00:00,s1,x"], "mem_pct,timestamp,server_id,cpu_pct"), 2, "cpu_pct", "not a number"),
    (clean_text(["2,10:61:00,s1,1"], "mem_pct,timestamp,server_id,cpu_pct"), 2, "timestamp", "time of day"),
    ("\n" + clean_text(), 1, None, "blank first line"),
    ("\ufeff", 1, None, "blank first line"),
    ("\ufeff" + HEADER + "\r\n\r\n\r\n", 2, None, "no rows"),
])
def test_what_stays_an_error_names_file_line_and_field(tmp_path, text, line, field, words):
    for name in ("d.csv", "d.csv.gz"):
        path = write(tmp_path / name, text, name)
        if words is None:  # a valid file among the errors: a shuffled header, an extra column
            load(path)
            continue
        err = refused(path)
        assert err.path == str(path) and (err.line, err.field) == (line, field), str(err)
        assert words in str(err) and str(path) in str(err)


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst"])
def test_a_truncated_compressed_file_is_an_error_naming_it_and_the_line_reached(tmp_path, suffix):
    rows = [f"s{i % 7},{dataset.format_time_of_day(i)},{i % 100},1" for i in range(20_000)]
    data = COMPRESSORS[suffix](clean_text(rows).encode())
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[:len(data) // 2])
    err = refused(path)
    # bzip2 decodes 900 kB blocks and zstd's frames are walked first, so the line reached may be the first
    assert err.path == str(path) and err.line is not None and 1 <= err.line < 20_002, str(err)
    assert f"cannot read the {compressed.compression(path)} stream" in str(err)


@pytest.mark.parametrize("suffix,damage", [
    (".csv.gz", lambda d: d[:30] + bytes(b ^ 0x55 for b in d[30:60]) + d[60:]),
    (".csv.xz", lambda d: d[:40] + bytes(b ^ 0x55 for b in d[40:80]) + d[80:]),
    (".csv.zst", lambda d: d[:20] + bytes(b ^ 0x55 for b in d[20:60]) + d[60:]),
    (".csv.bz2", lambda d: b"BZh9" + bytes(b ^ 0x55 for b in d[4:100]) + d[100:]),
    (".csv.gz", lambda d: b"plain text, not gzip\n"),
])
def test_corrupt_compressed_data_is_an_error_naming_the_file(tmp_path, suffix, damage):
    rows = [f"s{i % 7},{dataset.format_time_of_day(i)},{i % 100},1" for i in range(2000)]
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(damage(COMPRESSORS[suffix](clean_text(rows).encode())))
    err = refused(path)
    assert err.path == str(path) and err.line is not None
    assert "stream" in str(err) or "not UTF-8" in str(err) or "column" in str(err), str(err)


def test_a_compressed_file_named_csv_says_what_it_looks_like(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(gzip.compress(clean_text().encode()))
    err = refused(path)
    assert err.line == 1 and "looks gzip-compressed: name it *.csv.gz" in str(err)


def test_a_file_of_a_folder_with_other_metric_columns_is_refused_naming_both(tmp_path):
    first = write(tmp_path, clean_text(), "1.csv.gz")
    second = write(tmp_path, clean_text(["s3,10:00:00,1,2,3,4,5"], HEADER + ",net_in,net_out,disk_io"), "2.csv")
    err = refused(tmp_path)
    assert (err.path, err.line) == (str(second), 1) and str(first) in str(err) and "same columns" in str(err)


# --- check: the summary, sending nothing ---------------------------------------------------------------------

def test_check_summarises_a_quirky_compressed_recording(tmp_path):
    path = write_quirky(DEFAULT_DATASET, tmp_path / "metrics.csv.gz")
    result = check(path)
    assert result.ok and result.errors == () and result.error_count == 0
    assert (result.rows, result.servers, result.groups) == (28_800, 20, 1_440)
    assert (result.first, result.last, result.span_seconds, result.dated) == ("20:52:00", "22:51:55", 7_195, False)
    assert result.time_forms == {"HH:MM:SS": 28_800}
    assert result.metric_columns == ("cpu_pct", "mem_pct", "net_in", "net_out", "disk_io")
    assert result.ignored_columns == {"region": 28_800}
    f = result.files[0]
    assert (f.path, f.compression, f.bom, f.crlf, f.trailing_blank_lines, f.rows) == (path, "gzip", True, True, 2,
                                                                                     28_800)
    text = "\n".join(result.lines())
    for words in ("rows: 28,800", "servers: 20", "time span: 20:52:00 to 22:51:55 (1 h 59 min 55 s), times of day",
                  "timestamp forms: HH:MM:SS (28,800 rows)", "groups (distinct timestamps): 1,440",
                  "metric columns: cpu_pct, mem_pct, net_in, net_out, disk_io",
                  "columns ignored: region (28,800 values)",
                  "gzip-compressed, UTF-8 BOM, CRLF line ends, 2 blank lines at the end, ignored", "errors: none"):
        assert words in text, (words, text)


def test_check_lists_the_first_errors_and_counts_them_all(tmp_path):
    rows = ["s1,2026-03-01T10:00:00Z,1,2", "s1,2026-03-01 10:00:05+01:00,x,2", "",
            "s2,2026-03-01T10:00:00Z,1,2,9", "s2,10:00:05,1,2", "s1,2026-03-01T09:00:05Z,1,2"]
    rows += [f"s3,2026-03-01T10:00:{i:02d}Z,{101 + i},1" for i in range(20)]  # 20 values over 100
    path = write(tmp_path, clean_text(rows), "d.csv.bz2")
    result = check(path, max_errors=5)
    assert not result.ok and result.error_count == 24 and len(result.errors) == 5
    assert [(e.line, e.field) for e in result.errors] == [(3, "cpu_pct"), (4, None), (5, None), (6, "timestamp"),
                                                           (8, "cpu_pct")]
    assert str(load_error(path)) == str(result.errors[0])  # load stops at the first
    assert result.rows == 2 and result.servers == 1  # the good rows: s1 at 10:00:00 and 09:00:05
    assert result.time_forms == {"YYYY-MM-DDTHH:MM:SSZ": 2}
    lines = result.lines()
    assert "errors: 24 (the first 5)" in lines[-6] and lines[-5].startswith(f"  {path}, line 3, field 'cpu_pct'")


def load_error(path) -> DatasetError:
    with pytest.raises(DatasetError) as err:
        load(path)
    return err.value


def test_check_names_dated_forms_and_the_duplicate(tmp_path):
    rows = ["a,2026-03-01T10:00:00Z,1,2", "a,2026-03-01 12:00:05+02:00,1,2", "b,2026-03-01T10:00:00,1,2",
            "b,2026-03-01T11:00:00+01:00,1,2"]
    result = check(write(tmp_path, clean_text(rows)))
    assert result.time_forms == {"YYYY-MM-DDTHH:MM:SSZ": 1, "YYYY-MM-DD HH:MM:SS+02:00": 1,
                                 "YYYY-MM-DDTHH:MM:SS": 1, "YYYY-MM-DDTHH:MM:SS+01:00": 1}
    assert result.error_count == 1 and "duplicate sample for server 'b'" in str(result.errors[0])
    assert result.dated and result.first == "2026-03-01 10:00:00"


def test_check_of_a_missing_path_or_an_empty_folder_is_an_error_not_an_exception(tmp_path):
    (tmp_path / "empty").mkdir()
    for given in (tmp_path / "empty", tmp_path / "nope.csv", str(tmp_path / "*.csv.gz")):
        result = check(given)
        assert not result.ok and result.rows == 0 and result.first is None
        assert "time span: none" in "\n".join(result.lines())


def test_check_dataset_cli_prints_the_summary_and_exits_1_on_an_error(tmp_path, capsys):
    from devtools.cli import main

    good = write_quirky(DEFAULT_DATASET, tmp_path / "good.csv.zst")
    assert main(["check-dataset", str(good)]) == 0
    out = capsys.readouterr().out
    assert "columns ignored: region (28,800 values)" in out and "errors: none" in out
    bad = write(tmp_path, clean_text(ROWS[:2] + [""] + ROWS[2:]), "bad.csv.gz")
    assert main(["check-dataset", str(bad)]) == 1
    assert f"{bad}, line 4: blank line" in capsys.readouterr().out
    assert main(["check-dataset", str(tmp_path / "none" / "*.csv")]) == 1
    assert "no file matches" in capsys.readouterr().out


def test_check_broker_logs_the_summary_and_fails_without_retry_before_kafka(tmp_path, monkeypatch, capfd, caplog):
    """The DAG's first task reads the dataset whole: a bad row fails it at once, and the broker is not asked."""
    from airflow.sdk.exceptions import AirflowFailException

    from include import replay, topics
    from include.params import replay_params

    monkeypatch.setattr(replay, "kafka_config", lambda conn_id: {"bootstrap.servers": "127.0.0.1:9"})

    def must_not_ask(*args, **kwargs):
        raise AssertionError("asked the broker about a run whose dataset is bad")

    monkeypatch.setattr(topics, "check_broker", must_not_ask)
    params = {name: p.value for name, p in replay_params().items()}
    bad = write(tmp_path, clean_text(ROWS[:1] + ["s1,10:00:05,3,101"] + ROWS[2:]), "bad.csv.gz")
    with caplog.at_level(logging.INFO, logger="metrics_replay"):
        with pytest.raises(AirflowFailException, match=rf"dataset rejected: {bad}, line 3, field 'mem_pct'"):
            replay.check_broker("kafka_default", {**params, "dataset_path": str(bad)})
    text = logged(capfd, caplog)
    assert "rows: 3 (good rows only)" in text and "errors: 1;" in text
    good = write_quirky(DEFAULT_DATASET, tmp_path / "good.csv.gz")
    monkeypatch.setattr(topics, "check_broker", lambda *a, **k: topics.BrokerInfo("127.0.0.1:9", ["1"], 4, "c1"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="metrics_replay"):
        result = replay.check_broker("kafka_default", {**params, "dataset_path": str(good)})
    assert result["dataset"]["ignored_columns"] == {"region": 28_800} and result["dataset"]["rows"] == 28_800
    assert "columns ignored: region (28,800 values)" in logged(capfd, caplog)


def test_the_quirky_text_has_every_quirk():
    raw = quirky_text(DEFAULT_DATASET)
    assert raw.startswith("\ufeff".encode()) and raw.endswith(b"\r\n\r\n\r\n")
    header = raw.decode("utf-8")[1:].split("\r\n", 1)[0]
    assert header.split(",")[1] == "region" and " disk_io " in header and header.index("server_id") > 10
