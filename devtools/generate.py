"""Generated datasets of the real one's shape: N servers x M samples 5 s apart, with realistic load.

The default dataset in data/ comes from here (`make reference`), as do the bench's scaled datasets.
CPU and memory follow a slow daily swell per server with noise and occasional spikes; net_in, net_out
and disk_io are integer counters with bursts, and a few incidents that push network and disk past the
NET/DISK thresholds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from include.dataset import format_time_of_day
from include.formatting import csv_text
from include.paths import write_atomically

HEADER = ("server_id", "timestamp", "cpu_pct", "mem_pct", "net_in", "net_out", "disk_io")


def _pct(x: float) -> str:
    return repr(round(float(x), 2))


def generate_rows(servers: int = 20, samples: int = 1440, start_second: int = 20 * 3600 + 52 * 60,
                  step: int = 5, seed: int = 4, net_disk: bool = True) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    t = np.arange(samples)
    rows: list[tuple[str, ...]] = []
    for s in range(1, servers + 1):
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
        for i in range(samples):
            row = [f"server_{s}", format_time_of_day(start_second + int(t[i]) * step), _pct(cpu[i]), _pct(mem[i])]
            if net_disk:
                row += [str(int(net_in[i])), str(int(net_out[i])), str(int(disk[i]))]
            rows.append(tuple(row))
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
