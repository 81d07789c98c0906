"""Scaled datasets of the real day's shape (1x = 20 servers x 1,440 samples 5 s apart) and their expected
outputs from the reference implementation, generated once into .cache/bench/data and reused; and a
recording with gaps for pacing at a speed."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import WORK_DIR

log = logging.getLogger(__name__)

BASE_SERVERS = 20
SAMPLES = 1440
SEED = 4


@dataclass(frozen=True)
class Scaled:
    scale: int
    dataset: Path
    expected_cpu_mem: Path
    expected_net_disk: Path

    @property
    def servers(self) -> int:
        return BASE_SERVERS * self.scale

    @property
    def rows(self) -> int:
        return self.servers * SAMPLES


def scaled(scale: int, root: Path = WORK_DIR / "data") -> Scaled:
    """The dataset at ``scale`` x the real day (more servers, same 1,440 samples each), made if missing.

    Generation is deterministic (fixed seed), so a cached file is the same file; the expected outputs come
    from devtools.reference, which shares no code with the Spark job or the bench's pandas version."""
    folder = root / f"{scale}x"
    s = Scaled(scale, folder / "metrics.csv", folder / "expected_cpu_mem.csv", folder / "expected_net_disk.csv")
    done = folder / ".done"
    if done.exists():
        return s
    from devtools import generate, reference

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    generate.write_dataset(s.dataset, servers=s.servers, samples=SAMPLES, seed=SEED)
    t1 = time.perf_counter()
    reference.write_expected(s.dataset, s.expected_cpu_mem, s.expected_net_disk)
    log.info("generated %dx dataset (%d rows) in %.1f s and its expected outputs in %.1f s", scale, s.rows,
             t1 - t0, time.perf_counter() - t1)
    done.write_text("ok\n")
    return s


# The recording with gaps: 20 servers sampled every 5 s for an hour, with holes in it.
GAPPED_SERVERS = 20
GAPPED_STEP = 5
GAPPED_SPAN = 3600
GAPPED_HOLES = ((600, 660), (1500, 1800), (2400, 2405), (3000, 3300))  # [from, to) recorded seconds left out
GAPPED_START = 10 * 3600  # 10:00:00


def gapped_seconds() -> list[int]:
    """The recorded seconds (from the first) that the gapped recording samples: every GAPPED_STEP over
    GAPPED_SPAN, both ends included, minus GAPPED_HOLES."""
    return [s for s in range(0, GAPPED_SPAN + 1, GAPPED_STEP)
            if not any(lo <= s < hi for lo, hi in GAPPED_HOLES)]


def gapped(root: Path = WORK_DIR / "data") -> Path:
    """An hour of 20 servers every 5 s with holes of 5 s to 5 min (times of day, four metrics), made if
    missing: replayed at a speed, the holes must be waited out as holes."""
    path = root / "gapped" / "metrics.csv"
    if path.exists():
        return path
    from include.dataset import format_time_of_day
    from include.paths import write_atomically

    rng = random.Random(SEED)
    lines = ["server_id,timestamp,cpu_pct,mem_pct,net_in,net_out,disk_io"]
    for second in gapped_seconds():
        text = format_time_of_day(GAPPED_START + second)
        for k in range(1, GAPPED_SERVERS + 1):
            lines.append(f"server_{k},{text},{rng.uniform(5, 95):.2f},{rng.uniform(20, 95):.2f},"
                         f"{rng.randint(500, 8000)},{rng.randint(500, 4000)},{rng.randint(100, 2500)}")
    write_atomically(path, "\n".join(lines) + "\n")
    return path
