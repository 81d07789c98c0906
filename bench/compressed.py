"""Compressed recordings against the plain one: the same 100x day read as the producer reads it (check every
row, then stream every group; no broker) from the plain .csv and from .csv.gz/.bz2/.xz/.zst, each in a process
of its own, side by side in one run; and the same day in time order, plain against .csv.gz/.zst. The target: each compressed file's peak RSS within 1.25x the plain one's
(memory stays flat: nothing is held whole, only decompression buffers are added).

``python -m bench.compressed`` (``make bench-compressed``; ``--scale 10`` for a quicker run) writes
bench/results/compressed.json and .md; ``make bench`` runs the same measurement (row 6 of its table)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench import datasets
from bench.common import MIB, PYTHON, RESULTS_DIR, last_json_line, run_measured, write_part_results

log = logging.getLogger("bench")

TARGET_RATIO = 1.25


def read_run(path: Path) -> dict:
    out = last_json_line(run_measured([PYTHON, "-m", "bench.read_once", str(path)]).check(f"reading {path}").stdout)
    out["file_bytes"] = path.stat().st_size
    log.info("read %s: %d rows, %d groups, %d run(s); check %.1f s, stream %.1f s; peak RSS %.0f MiB", path.name,
             out["rows"], out["groups"], out["runs"], out["check_seconds"], out["stream_seconds"],
             out["peak_rss_bytes"] / MIB)
    return out


# The day as generated is sorted by server (2,000 time-ordered runs at 100x, as the real day has 20): a
# compressed copy is unpacked into a temporary file to stream. In time order (one run, as exports often are) it
# streams front to back as it decompresses, its decompressor live all along: measured for the two quick ones.
TIME_ORDERED_SUFFIXES = (".gz", ".zst")


def compare(plain: Path, copies: dict[str, Path]) -> dict:
    """Read ``plain``, each of ``copies``, then ``plain`` again (so drift in the machine's load shows; the
    plain figure is the larger peak of the two), each in a process of its own."""
    first = read_run(plain)
    forms = {suffix: read_run(path) for suffix, path in copies.items()}
    last = read_run(plain)
    base = max(first["peak_rss_bytes"], last["peak_rss_bytes"])
    for form in forms.values():
        form["rss_ratio"] = form["peak_rss_bytes"] / base
        form["seconds_ratio"] = ((form["check_seconds"] + form["stream_seconds"])
                                 / min(r["check_seconds"] + r["stream_seconds"] for r in (first, last)))
    return {"rows": first["rows"], "runs": first["runs"],
            "plain": {"first": first, "last": last, "peak_rss_bytes": base}, "compressed": forms}


def bench_compressed(scale: int = 100, suffixes: tuple[str, ...] = datasets.COMPRESSED_SUFFIXES,
                     time_ordered: tuple[str, ...] = TIME_ORDERED_SUFFIXES) -> dict:
    """Peak RSS and times of reading the ``scale`` x day plain and compressed, as generated (sorted by server)
    and in time order."""
    s = datasets.scaled(scale, expected=False)
    by_time = datasets.time_ordered_copy(s)
    result = {"scale": scale, "target_ratio": TARGET_RATIO,
              "by_server": compare(s.dataset, {x: datasets.compressed_copy(s.dataset, x) for x in suffixes}),
              "by_time": compare(by_time, {x: datasets.compressed_copy(by_time, x) for x in time_ordered})}
    result["met"] = all(f["rss_ratio"] <= TARGET_RATIO for part in ("by_server", "by_time")
                        for f in result[part]["compressed"].values())
    return result


def markdown_rows(result: dict, command: str | None = None) -> list[str]:
    """Rows 6.* of the bench table: | # | figure | ours | baseline | ratio | target | verdict | (and | command |
    when ``command`` is given)."""
    rows = []
    for part, order, tag in (("by_server", "sorted by server", "6"), ("by_time", "in time order", "6t")):
        r = result.get(part)
        if not r:
            continue
        plain = r["plain"]
        p_seconds = min(x["check_seconds"] + x["stream_seconds"] for x in (plain["first"], plain["last"]))
        baseline = (f"plain .csv ({plain['first']['file_bytes'] / MIB:.1f} MiB) {plain['peak_rss_bytes'] / MIB:.0f} "
                    f"MiB in {p_seconds:.1f} s")
        for suffix, f in r["compressed"].items():
            verdict = "met" if f["rss_ratio"] <= result["target_ratio"] else "**missed**"
            rows.append(f"| {tag}{suffix} | reading the {result['scale']}x day ({r['rows']:,} rows, {order}: "
                        f"{r['runs']:,} run{'s' if r['runs'] > 1 else ''}) from .csv{suffix} "
                        f"({f['file_bytes'] / MIB:.1f} MiB): peak RSS (check + stream every group, no broker) | "
                        f"{f['peak_rss_bytes'] / MIB:.0f} MiB in {f['check_seconds'] + f['stream_seconds']:.1f} s | "
                        f"{baseline} | {f['rss_ratio']:.2f}x memory, {f['seconds_ratio']:.2f}x time | "
                        f"<= {result['target_ratio']}x memory | {verdict} |"
                        + (f" {command} |" if command else ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=100, help="dataset scale (default 100: 2.88 M rows)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "compressed.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bench.run import machine

    result = {"machine": machine(), **bench_compressed(args.scale)}
    return write_part_results(result, args.out, markdown_rows(result))


if __name__ == "__main__":
    sys.exit(main())
