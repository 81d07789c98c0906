"""Reference implementation of the windowed CPU/MEM output, in plain Python and independent of Spark.

It produces the expected files shipped in data/ (`make reference`) and is the yardstick the Spark job
is tested against. It is written for clarity, not speed: every window is a Python list.

Semantics (the seed's, pinned down by reproducing its real expected output byte for byte):
- sliding windows of ``window_seconds`` every ``slide_seconds``; every window start is congruent to the
  earliest event second modulo the slide; only windows holding data exist;
- per server and window the mean of cpu_pct and mem_pct, where each value is first narrowed to a 32-bit
  float (the original job declared them FloatType; parsing as doubles puts ~8% of cells 0.01 off),
  summed in 64-bit, and rounded HALF_UP to 2 decimals;
- per server the first ``warmup_windows`` windows (the partial leading ones) are dropped;
- an alert from the rounded means and the thresholds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from include.dataset import Dataset, format_time_of_day
from include.formatting import as_float32, float32_text, round_half_up

CPU_MEM_HEADER = ("server_id", "window_start", "window_end", "avg_cpu", "avg_mem", "alert")
ALERT_BOTH = "CPU and Memory spike"
ALERT_MEM = "Memory saturation suspected"
ALERT_CPU = "CPU spike suspected"


@dataclass(frozen=True)
class WindowSpec:
    window_seconds: int = 30
    slide_seconds: int = 10
    warmup_windows: int = 2

    def starts_containing(self, second: int, origin: int) -> list[int]:
        """Starts of every window that holds ``second``."""
        last = second - (second - origin) % self.slide_seconds
        starts = []
        start = last
        while start > second - self.window_seconds:
            starts.append(start)
            start -= self.slide_seconds
        return starts


def cpu_mem_alert(avg_cpu: Decimal, avg_mem: Decimal, cpu_threshold: float, mem_threshold: float) -> str:
    cpu_hot = avg_cpu >= Decimal(repr(float(cpu_threshold)))
    mem_hot = avg_mem >= Decimal(repr(float(mem_threshold)))
    if cpu_hot and mem_hot:
        return ALERT_BOTH
    if mem_hot:
        return ALERT_MEM
    if cpu_hot:
        return ALERT_CPU
    return ""


def cpu_mem_rows(ds: Dataset, spec: WindowSpec, cpu_threshold: float, mem_threshold: float) -> list[tuple[str, ...]]:
    origin = ds.first_second
    sums: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    cpu, mem = ds.values["cpu_pct"], ds.values["mem_pct"]
    for i in range(ds.rows):
        sec = int(ds.seconds[i])
        c, m = as_float32(float(cpu[i])), as_float32(float(mem[i]))
        for start in spec.starts_containing(sec, origin):
            acc = sums[(int(ds.server_index[i]), start)]
            acc[0] += c
            acc[1] += m
            acc[2] += 1
    per_server: dict[int, list[int]] = defaultdict(list)
    for server, start in sums:
        per_server[server].append(start)
    rows = []
    for server, starts in per_server.items():
        for start in sorted(starts)[spec.warmup_windows:]:
            c_sum, m_sum, n = sums[(server, start)]
            avg_cpu, avg_mem = round_half_up(c_sum / n), round_half_up(m_sum / n)
            rows.append((ds.servers[server], format_time_of_day(start),
                         format_time_of_day(start + spec.window_seconds), float32_text(avg_cpu),
                         float32_text(avg_mem), cpu_mem_alert(avg_cpu, avg_mem, cpu_threshold, mem_threshold)))
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows

