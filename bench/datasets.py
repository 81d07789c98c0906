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


def scaled(scale: int, root: Path = WORK_DIR / "data", expected: bool = True) -> Scaled:
    """The dataset at ``scale`` x the real day (more servers, same 1,440 samples each), made if missing, and
    (unless ``expected`` is False) its expected outputs.

    Generation is deterministic (fixed seed), so a cached file is the same file; the expected outputs come
    from devtools.reference, which shares no code with the Spark job or the bench's pandas version."""
    folder = root / f"{scale}x"
    s = Scaled(scale, folder / "metrics.csv", folder / "expected_cpu_mem.csv", folder / "expected_net_disk.csv")
    done, dataset_done = folder / ".done", folder / ".dataset-done"
    if done.exists():
        return s
    from devtools import generate, reference

    folder.mkdir(parents=True, exist_ok=True)
    if not dataset_done.exists():
        t0 = time.perf_counter()
        generate.write_dataset(s.dataset, servers=s.servers, samples=SAMPLES, seed=SEED)
        log.info("generated %dx dataset (%d rows) in %.1f s", scale, s.rows, time.perf_counter() - t0)
        dataset_done.write_text("ok\n")
    if expected:
        t1 = time.perf_counter()
        reference.write_expected(s.dataset, s.expected_cpu_mem, s.expected_net_disk)
        log.info("computed the %dx dataset's expected outputs in %.1f s", scale, time.perf_counter() - t1)
        done.write_text("ok\n")
    return s


def time_ordered_copy(s: Scaled) -> Path:
    """The scaled day with its rows in time order (every server's first sample, then every server's second...),
    as a monitoring export writes them, beside it as ``metrics-by-time.csv``, made if missing. The generated day
    is sorted by server (as the real day is): each server's SAMPLES rows in a block."""
    target = s.dataset.with_name("metrics-by-time.csv")
    if target.exists():
        return target
    t0 = time.perf_counter()
    with s.dataset.open("rb") as fh:
        header, *rows = fh.read().splitlines(keepends=True)
    if len(rows) != s.rows:
        raise RuntimeError(f"{s.dataset} holds {len(rows)} rows, expected {s.rows}")
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as out:
        out.write(header)
        for i in range(SAMPLES):
            out.writelines(rows[i::SAMPLES])  # server k's sample i is row k * SAMPLES + i
    partial.replace(target)
    log.info("wrote %s (%d rows in time order) in %.1f s", target, s.rows, time.perf_counter() - t0)
    return target


# The compressed forms of a recording the bench reads, each at its tool's default level (gzip -6, bzip2 -9,
# xz -6, zstd -3), as a team's archive would hold them.
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def compressed_copy(plain: Path, suffix: str) -> Path:
    """``plain`` compressed as ``suffix`` says, beside it (``metrics.csv.gz``...), made if missing; streamed,
    so making it holds no file in memory."""
    import bz2
    import gzip
    import lzma
    import shutil

    import zstandard

    target = plain.with_name(plain.name + suffix)
    if target.exists():
        return target
    partial = target.with_name(target.name + ".partial")
    t0 = time.perf_counter()
    with plain.open("rb") as src:
        if suffix == ".zst":
            with partial.open("wb") as raw:
                zstandard.ZstdCompressor(level=3).copy_stream(src, raw)
        else:
            opener = {".gz": lambda p: gzip.open(p, "wb", compresslevel=6), ".bz2": lambda p: bz2.open(p, "wb"),
                      ".xz": lambda p: lzma.open(p, "wb")}[suffix]
            with opener(partial) as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
    partial.replace(target)
    log.info("compressed %s to %s (%d -> %d bytes) in %.1f s", plain, target.name, plain.stat().st_size,
             target.stat().st_size, time.perf_counter() - t0)
    return target


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
