"""Scaled datasets of the real day's shape (1x = 20 servers x 1,440 samples 5 s apart) and their expected
outputs from the reference implementation, generated once into .cache/bench/data and reused."""

from __future__ import annotations

import logging
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
