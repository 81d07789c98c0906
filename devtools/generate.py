"""Generated datasets of the real one's shape: N servers x M samples 5 s apart, with realistic load.

The default dataset in data/ comes from here (`make reference`), as do the bench's scaled datasets and the
two time-true recordings shipped in data/ (`python -m devtools.generate data`, also run by `make reference`):
a dated four-metric recording of three nights across midnight, one file per night, and a time-of-day one
from 23:40 to 00:20, replayed with recording_start.

CPU and memory follow a slow daily swell per server with noise and occasional spikes; net_in, net_out
and disk_io are integer counters with bursts, and a few incidents that push network and disk past the
NET/DISK thresholds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from include.dataset import SECONDS_PER_DAY, format_datetime, format_time_of_day, parse_datetime, parse_time_of_day
from include.formatting import csv_text
from include.paths import write_atomically

HEADER = ("server_id", "timestamp", "cpu_pct", "mem_pct", "net_in", "net_out", "disk_io")


def _pct(x: float) -> str:
    return repr(round(float(x), 2))


def server_series(rng: np.random.Generator, samples: int) -> tuple[np.ndarray, ...]:
    """One server's cpu_pct, mem_pct, net_in, net_out, disk_io over ``samples`` samples (floats; the counters
    are cut to integers when written). Draws from ``rng`` in a fixed order: the shipped files depend on it."""
    t = np.arange(samples)
    phase = rng.uniform(0, 2 * np.pi)
    swell = np.sin(2 * np.pi * t / max(samples, 1) + phase)  # one slow cycle over the recording
    cpu = rng.uniform(30, 55) + 18 * swell + rng.normal(0, 14, samples)
    mem = rng.uniform(40, 65) + 12 * swell + rng.normal(0, 10, samples)
    # spikes: short runs of hot samples, enough to trip the averaged alerts now and then
    for _ in range(rng.integers(3, 7)):
        at, length = rng.integers(0, samples), rng.integers(4, 12)
        cpu[at:at + length] += rng.uniform(35, 60)
    for _ in range(rng.integers(2, 6)):
        at, length = rng.integers(0, samples), rng.integers(4, 12)
        mem[at:at + length] += rng.uniform(30, 50)
    if rng.random() < 0.6:  # an incident that loads CPU and memory together
        at, length = rng.integers(0, samples), rng.integers(8, 16)
        cpu[at:at + length] += 55
        mem[at:at + length] += 45
    cpu, mem = np.clip(cpu, 0, 100), np.clip(mem, 0, 100)
    net_in = np.maximum(0, rng.normal(2500, 700, samples) * (1 + 0.3 * swell))
    net_out = np.maximum(0, net_in * rng.uniform(0.4, 0.9) + rng.normal(0, 200, samples))
    disk = np.maximum(0, rng.normal(800, 250, samples) * (1 + 0.2 * swell))
    for _ in range(rng.integers(1, 4)):  # network floods, disk thrash, sometimes together
        at, length = rng.integers(0, samples), rng.integers(3, 10)
        kind = rng.integers(0, 3)
        if kind in (0, 2):
            net_in[at:at + length] += rng.uniform(4000, 9000)
        if kind in (1, 2):
            disk[at:at + length] += rng.uniform(1200, 3000)
    return cpu, mem, net_in, net_out, disk


def _row(server: str, stamp: str, series: tuple[np.ndarray, ...], i: int, net_disk: bool = True) -> tuple[str, ...]:
    cpu, mem, net_in, net_out, disk = series
    row = [server, stamp, _pct(cpu[i]), _pct(mem[i])]
    if net_disk:
        row += [str(int(net_in[i])), str(int(net_out[i])), str(int(disk[i]))]
    return tuple(row)


def generate_rows(servers: int = 20, samples: int = 1440, start_second: int = 20 * 3600 + 52 * 60,
                  step: int = 5, seed: int = 4, net_disk: bool = True) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, ...]] = []
    for s in range(1, servers + 1):
        series = server_series(rng, samples)
        rows.extend(_row(f"server_{s}", format_time_of_day(start_second + i * step), series, i, net_disk)
                    for i in range(samples))
    return rows


def write_dataset(path: Path, **kw) -> Path:
    net_disk = kw.get("net_disk", True)
    header = HEADER if net_disk else HEADER[:4]
    write_atomically(path, csv_text(header, generate_rows(**kw)))
    return path


def write_default(dataset_path: Path, expected_path: Path, expected_net_disk_path: Path, seed: int = 4) -> None:
    """The shipped default: 20 servers x 1,440 samples with net/disk counters, and its expected outputs."""
    from devtools import reference

    write_dataset(dataset_path, seed=seed)
    reference.write_expected(dataset_path, expected_path, expected_net_disk_path)


# ---- The two shipped time-true recordings (issue 14): dated over several days, and times of day across midnight

DATED_FOLDER = "dated_multiday"
DATED_EXPECTED = "dated_multiday_expected.csv"
DATED_EXPECTED_NET_DISK = "dated_multiday_net_disk_expected.csv"
MIDNIGHT_FILE = "midnight.csv"
MIDNIGHT_EXPECTED = "midnight_expected.csv"
MIDNIGHT_EXPECTED_NET_DISK = "midnight_net_disk_expected.csv"
# The time-of-day recording runs 23:40:00 -> 00:19:55: replay it with this recording_start (any time of day
# from 00:19:56 to 23:40:00 would place its rows the same way: 23:xx on the 30th, 00:xx on the 31st).
MIDNIGHT_RECORDING_START = "2024-03-30T23:40:00Z"
RECORDING_SERVERS = 4
RECORDING_SEED = 15  # a seed whose outputs hold every kind of alert


def _stamp_z(second: int) -> str:
    return format_datetime(second).replace(" ", "T") + "Z"


def _stamp_plus_two_hours(second: int) -> str:
    """The local time of a UTC+02:00 recorder, with its offset: a UTC night 23:45 -> 00:15 reads 01:45 -> 02:15
    of one local date."""
    return format_datetime(second + 2 * 3600).replace(" ", "T") + "+02:00"


@dataclass(frozen=True)
class Night:
    """One file of the dated recording: ``samples`` samples ``step`` s apart from ``first`` (UTC), written by
    ``stamp``; ``gaps`` are (server or None for all, first, last) UTC date-times with no rows."""

    file: str
    first: str
    stamp: Callable[[int], str]
    samples: int = 180
    step: int = 10
    gaps: tuple[tuple[str | None, str, str], ...] = ()


# Three nights, each crossing midnight UTC, one file each, in three timestamp writings (Z; a +02:00 offset;
# a space and no suffix, which is UTC). Gaps: the collector down for all servers, and one server down.
DATED_NIGHTS = (
    Night("day-1.csv", "2024-03-30T23:40:00", _stamp_z,
          gaps=((None, "2024-03-31T00:02:00", "2024-03-31T00:04:50"),)),
    Night("day-2.csv", "2024-03-31T23:45:00", _stamp_plus_two_hours),
    Night("day-3.csv", "2024-04-01T23:50:00", format_datetime,
          gaps=(("server_3", "2024-04-01T23:58:00", "2024-04-02T00:03:00"),)),
)


def _in_gap(server: str, second: int, gaps: tuple[tuple[str | None, str, str], ...]) -> bool:
    return any((who is None or who == server) and parse_datetime(a) <= second <= parse_datetime(b)
               for who, a, b in gaps)


def dated_recording(folder: Path, nights: tuple[Night, ...] = DATED_NIGHTS, servers: int = RECORDING_SERVERS,
                    seed: int = RECORDING_SEED) -> list[Path]:
    """The dated multi-day recording: one file per night, each file sorted by server then time (as the real
    recording is), every server's values one series across the nights."""
    rng = np.random.default_rng(seed)
    total = sum(n.samples for n in nights)
    series = {f"server_{s}": server_series(rng, total) for s in range(1, servers + 1)}
    paths = []
    at = 0
    for night in nights:
        start = parse_datetime(night.first)
        rows = [_row(server, night.stamp(start + i * night.step), values, at + i)
                for server, values in series.items() for i in range(night.samples)
                if not _in_gap(server, start + i * night.step, night.gaps)]
        at += night.samples
        path = folder / night.file
        write_atomically(path, csv_text(HEADER, rows))
        paths.append(path)
    return paths


def midnight_recording(path: Path, servers: int = RECORDING_SERVERS, seed: int = RECORDING_SEED + 1,
                       start: str = "23:40:00", samples: int = 480, step: int = 5) -> Path:
    """The time-of-day recording across midnight: 23:40:00 -> 00:19:55, 5 s apart, server_2 silent from
    23:58:30 to 00:01:30, and its rows shuffled so that the file order says nothing of the time order (only
    recording_start does)."""
    rng = np.random.default_rng(seed)
    first = parse_time_of_day(start)
    gap = (parse_time_of_day("23:58:30"), parse_time_of_day("00:01:30") + SECONDS_PER_DAY)
    rows = []
    for s in range(1, servers + 1):
        server, values = f"server_{s}", server_series(rng, samples)
        for i in range(samples):
            second = first + i * step
            if server == "server_2" and gap[0] <= second <= gap[1]:
                continue
            rows.append(_row(server, format_time_of_day(second), values, i))
    order = rng.permutation(len(rows))
    write_atomically(path, csv_text(HEADER, [rows[i] for i in order]))
    return path


def write_recordings(data: Path) -> list[Path]:
    """Both shipped recordings in ``data`` and their expected outputs from the reference implementation
    (``make reference``). Returns every file written."""
    from devtools import reference

    folder = data / DATED_FOLDER
    for old in folder.glob("*.csv"):  # a night renamed or dropped must not linger in the merged folder
        old.unlink()
    files = dated_recording(folder)
    reference.write_expected(folder, data / DATED_EXPECTED, data / DATED_EXPECTED_NET_DISK)
    midnight = midnight_recording(data / MIDNIGHT_FILE)
    reference.write_expected(midnight, data / MIDNIGHT_EXPECTED, data / MIDNIGHT_EXPECTED_NET_DISK,
                             recording_start=MIDNIGHT_RECORDING_START)
    return [*files, data / DATED_EXPECTED, data / DATED_EXPECTED_NET_DISK, midnight, data / MIDNIGHT_EXPECTED,
            data / MIDNIGHT_EXPECTED_NET_DISK]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.generate",
                                     description="write the shipped time-true recordings and their expected outputs")
    parser.add_argument("data", type=Path, help="the data folder (data/)")
    args = parser.parse_args(argv)
    for path in write_recordings(args.data):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
