"""Reference implementation of the windowed CPU/MEM output, in plain Python and independent of Spark.

It produces the expected files shipped in data/ (`make reference`) and is the yardstick the Spark job
is tested against. It is written for clarity, not speed: every window is a Python list.

Semantics (the seed's, pinned down by reproducing its real expected output byte for byte):
- sliding windows of ``window_seconds`` every ``slide_seconds`` on the dataset's timeline (``Dataset.seconds``:
  UTC epoch seconds for dated data, seconds since midnight of the first day for times of day); every window
  start is congruent to the earliest timeline second modulo the slide; only windows holding data exist;
- per server and window the mean of cpu_pct and mem_pct, where each value is first narrowed to a 32-bit
  float (the original job declared them FloatType; parsing as doubles puts ~8% of cells 0.01 off),
  summed in 64-bit, and rounded HALF_UP to 2 decimals;
- per server the first ``warmup_windows`` windows (the partial leading ones) are dropped;
- an alert from the rounded means and the thresholds;
- window_start and window_end as ``Dataset.format_second`` writes them (``YYYY-MM-DD HH:MM:SS`` UTC for dated
  data, ``HH:MM:SS`` for times of day, also on the second day of a recording across midnight); rows sorted by
  server_id (string order), then by window start in time order, not text order.

NET/DISK uses the same windows and warm-up drop with the per-window maxima of net_in and disk_io
(64-bit values), rounded HALF_UP to 2 decimals, and flood/thrash alerts.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from include import contract as c
from include.contract import (ALERT_BOTH, ALERT_CPU, ALERT_DISK, ALERT_MEM, ALERT_NET, ALERT_NET_DISK, CPU_MEM_HEADER,
                              NET_DISK_HEADER)
from include.dataset import Dataset, load
from include.formatting import as_float32, csv_text, float32_text, float64_text, round_half_up
from include.paths import write_atomically


@dataclass(frozen=True)
class WindowSpec:
    window_seconds: int = c.WINDOW_SECONDS
    slide_seconds: int = c.SLIDE_SECONDS
    warmup_windows: int = c.WARMUP_WINDOWS

    def starts_containing(self, second: int, origin: int) -> list[int]:
        """Starts of every window that holds ``second``."""
        last = second - (second - origin) % self.slide_seconds
        starts = []
        start = last
        while start > second - self.window_seconds:
            starts.append(start)
            start -= self.slide_seconds
        return starts


def _hot(value: Decimal, threshold: float) -> bool:
    return value >= Decimal(repr(float(threshold)))


def _alert(first_hot: bool, second_hot: bool, both: str, first: str, second: str) -> str:
    """``both`` when both are hot, else the text of the one that is (``first`` checked first), else ""."""
    if first_hot and second_hot:
        return both
    return first if first_hot else second if second_hot else ""


def cpu_mem_alert(avg_cpu: Decimal, avg_mem: Decimal, cpu_threshold: float, mem_threshold: float) -> str:
    # The seed checks memory before CPU when only one holds.
    return _alert(_hot(avg_mem, mem_threshold), _hot(avg_cpu, cpu_threshold), ALERT_BOTH, ALERT_MEM, ALERT_CPU)


def net_disk_alert(max_net_in: Decimal, max_disk_io: Decimal, net_threshold: float, disk_threshold: float) -> str:
    return _alert(_hot(max_net_in, net_threshold), _hot(max_disk_io, disk_threshold), ALERT_NET_DISK, ALERT_NET,
                  ALERT_DISK)


def _windows(ds: Dataset, spec: WindowSpec) -> dict[int, list[tuple[int, list[int]]]]:
    """Per server index, its kept windows in start order, each with the row indices it holds."""
    origin = ds.first_second
    members: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in range(ds.rows):
        for start in spec.starts_containing(int(ds.seconds[i]), origin):
            members[(int(ds.server_index[i]), start)].append(i)
    per_server: dict[int, list[int]] = defaultdict(list)
    for server, start in members:
        per_server[server].append(start)
    return {server: [(start, members[(server, start)]) for start in sorted(starts)[spec.warmup_windows:]]
            for server, starts in per_server.items()}


def _rows(ds: Dataset, spec: WindowSpec, cells) -> list[tuple[str, ...]]:
    keyed = []
    for server, windows in _windows(ds, spec).items():
        for start, members in windows:
            row = (ds.servers[server], ds.format_second(start), ds.format_second(start + spec.window_seconds),
                   *cells(members))
            keyed.append(((ds.servers[server], start), row))
    # Time order, not text order: a time of day after midnight ("00:00:10") follows "23:59:50".
    keyed.sort(key=lambda k: k[0])
    return [row for _, row in keyed]


def cpu_mem_rows(ds: Dataset, spec: WindowSpec, cpu_threshold: float, mem_threshold: float) -> list[tuple[str, ...]]:
    cpu, mem = ds.values["cpu_pct"], ds.values["mem_pct"]

    def cells(members: list[int]) -> tuple[str, str, str]:
        avg_cpu = round_half_up(sum(as_float32(float(cpu[i])) for i in members) / len(members))
        avg_mem = round_half_up(sum(as_float32(float(mem[i])) for i in members) / len(members))
        return (float32_text(avg_cpu), float32_text(avg_mem),
                cpu_mem_alert(avg_cpu, avg_mem, cpu_threshold, mem_threshold))

    return _rows(ds, spec, cells)


def net_disk_rows(ds: Dataset, spec: WindowSpec, net_threshold: float,
                  disk_threshold: float) -> list[tuple[str, ...]]:
    net, disk = ds.values["net_in"], ds.values["disk_io"]

    def cells(members: list[int]) -> tuple[str, str, str]:
        max_net = round_half_up(max(float(net[i]) for i in members))
        max_disk = round_half_up(max(float(disk[i]) for i in members))
        return (float64_text(max_net), float64_text(max_disk),
                net_disk_alert(max_net, max_disk, net_threshold, disk_threshold))

    return _rows(ds, spec, cells)


def write_expected(dataset_path: str | os.PathLike[str] | Sequence[Path], cpu_mem_path: Path,
                   net_disk_path: Path | None, spec: WindowSpec = WindowSpec(), cpu_threshold: float = c.CPU_THRESHOLD,
                   mem_threshold: float = c.MEM_THRESHOLD, net_threshold: float = c.NET_THRESHOLD,
                   disk_threshold: float = c.DISK_THRESHOLD,
                   recording_start: datetime | str | None = None) -> Dataset:
    """Write a dataset's expected outputs (NET/DISK only when it has those columns and a path is given).

    ``dataset_path`` is what ``include.dataset.load`` takes: a file, a folder, a glob or a list of files;
    ``recording_start`` places a time-of-day recording that crosses midnight."""
    ds = load(dataset_path, recording_start)
    write_atomically(cpu_mem_path, csv_text(CPU_MEM_HEADER, cpu_mem_rows(ds, spec, cpu_threshold, mem_threshold)))
    if net_disk_path is not None and ds.has_net_disk:
        write_atomically(net_disk_path, csv_text(NET_DISK_HEADER,
                                                 net_disk_rows(ds, spec, net_threshold, disk_threshold)))
    return ds
