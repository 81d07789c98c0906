"""The bench's compressed-recording part (row 6): the copies it reads are the plain file compressed, a read in a
process of its own checks what it streamed, and the rows it reports."""

from __future__ import annotations

import json
import subprocess
import sys

from bench import datasets
from bench.common import MIB
from bench.compressed import TARGET_RATIO, markdown_rows
from bench.report import markdown
from include import compressed
from include.paths import DEFAULT_DATASET, PROJECT_ROOT


def test_compressed_copies_decompress_to_the_plain_file_and_are_made_once(tmp_path):
    plain = tmp_path / "metrics.csv"
    plain.write_bytes(DEFAULT_DATASET.read_bytes())
    for suffix in datasets.COMPRESSED_SUFFIXES:
        copy = datasets.compressed_copy(plain, suffix)
        assert copy.name == f"metrics.csv{suffix}" and copy.stat().st_size < plain.stat().st_size / 2
        with compressed.open_stream(copy) as fh:
            assert fh.read() == plain.read_bytes()
        made = copy.stat().st_mtime_ns
        assert datasets.compressed_copy(plain, suffix).stat().st_mtime_ns == made  # reused
    assert not list(tmp_path.glob("*.partial"))


def test_a_read_in_its_own_process_reports_rows_groups_and_its_peak(tmp_path):
    plain = tmp_path / "metrics.csv"
    plain.write_bytes(DEFAULT_DATASET.read_bytes())
    out = subprocess.run([sys.executable, "-m", "bench.read_once", str(datasets.compressed_copy(plain, ".zst"))],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["rows"], result["groups"], result["runs"]) == (28_800, 1_440, 20)
    assert 0 < result["peak_rss_bytes"] < 300 * MIB


def test_report_rows_for_compressed_recordings():
    run = lambda rss, size, runs: {"rows": 2_880_000, "groups": 1440, "runs": runs,  # noqa: E731
                                   "check_seconds": 30.0, "stream_seconds": 20.0, "peak_rss_bytes": rss * MIB,
                                   "file_bytes": size * MIB}
    by_server = {".gz": {**run(60, 50, 2000), "rss_ratio": 60 / 52, "seconds_ratio": 1.2},
                 ".xz": {**run(70, 30, 2000), "rss_ratio": 70 / 52, "seconds_ratio": 1.5}}
    by_time = {".zst": {**run(50, 40, 1), "rss_ratio": 50 / 48, "seconds_ratio": 1.1}}
    part = lambda forms, runs, rss: {"rows": 2_880_000, "runs": runs, "compressed": forms,  # noqa: E731
                                     "plain": {"first": run(rss - 2, 160, runs), "last": run(rss, 160, runs),
                                               "peak_rss_bytes": rss * MIB}}
    result = {"machine": {"cpus": 2, "cpu_model": "x", "memory_gib": 1, "kernel": "k", "python": "3",
                          "load_at_start": [0.5, 0.5, 0.5]}, "date": "d", "command": "make bench",
              "compressed": {"scale": 100, "target_ratio": TARGET_RATIO, "by_server": part(by_server, 2000, 52),
                             "by_time": part(by_time, 1, 48)}}
    lines = markdown(result).splitlines()
    gz = next(line for line in lines if line.startswith("| 6.gz |"))
    xz = next(line for line in lines if line.startswith("| 6.xz |"))
    zst = next(line for line in lines if line.startswith("| 6t.zst |"))
    assert "reading the 100x day (2,880,000 rows, sorted by server: 2,000 runs) from .csv.gz (50.0 MiB)" in gz
    assert "| 60 MiB in 50.0 s | plain .csv (160.0 MiB) 52 MiB in 50.0 s | 1.15x memory, 1.20x time |" in gz
    command = " `python -m bench.compressed` |"  # the bench table's last column: the command that measures it
    assert gz.endswith("| <= 1.25x memory | met |" + command) and xz.endswith("| **missed** |" + command)
    assert "in time order: 1 run) from .csv.zst" in zst and "| 1.04x memory, 1.10x time |" in zst
    assert [f"{line}{command}" for line in markdown_rows(result["compressed"])] == [gz, xz, zst]


def test_the_time_ordered_copy_is_one_run_of_the_same_samples(tmp_path):
    from include import dataset

    s = datasets.scaled(1, root=tmp_path, expected=False)
    assert not s.expected_cpu_mem.exists()  # only the dataset was made
    by_time = dataset.load(datasets.time_ordered_copy(s))
    by_server = dataset.load(s.dataset)
    assert len(by_time.runs) == 1 and len(by_server.runs) == 20 and by_time.rows == by_server.rows == 28_800
    samples = lambda ds: [(g.second, [(ds.servers[x.server], x.values) for x in g.samples])  # noqa: E731
                          for g in ds.stream_groups()]
    assert samples(by_time) == samples(by_server)
