"""The Replay validation page with thousands of runs: 2,000 synthetic run folders (validation.json written by the
real model, and a report.html each) over four datasets, and the time to serve page 1, a filtered page (one
dataset, failed runs only) and the JSON API's page 1, with what the first request costs (every record parsed).

``python -m bench.history [--runs 2000]`` writes bench/results/history.json and .md; ``make bench`` runs the same
measurement (row 8 of its table). No broker, no Spark: the page reads files only."""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import RESULTS_DIR, WORK_DIR, write_part_results

log = logging.getLogger("bench")

RUNS = 2000
DATASETS = ("data/metrics.csv", "data/dated_multiday", "data/midnight.csv", "../shared/data/team_04_CPU_MEM_RAW.csv")
REPEATS = 7
TARGET_MS = 500  # a warm page (the usual request) within half a second


def synthetic_record(n: int, dataset: str, rng: random.Random, start: datetime):
    """Run ``n``'s validation.json as validate_output writes it: the default day's counts, every 7th run failing
    with a few differing windows, every 5th one live (with alert latency)."""
    from include.latency import Figures, LatencySummary
    from include.validation import ComparedPart, MismatchRecord, NotApplicablePart, ValidationRecord

    failed = n % 7 == 3
    rows = 14_400
    differing = rng.randint(1, 40) if failed else 0
    part = ComparedPart(
        expected_path="data/metrics_expected.csv", produced_path=f"output/run-{n}/cpu_mem.csv", expected_rows=rows,
        produced_rows=rows, matching=rows - differing, missing=0, extra=0,
        mismatches_per_column={"avg_cpu": differing, "avg_mem": 0, "alert": 0},
        first_mismatches=[MismatchRecord(key=["server_1", f"10:00:{i % 60:02d}", "10:00:30"], column="avg_cpu",
                                         expected="50.5", produced="50.6") for i in range(min(differing, 20))],
        first_missing=[], first_extra=[], alerts=rng.randint(60, 90), passed=not failed,
        status="fail" if failed else "pass")
    live = n % 5 == 0
    latency = None
    if live:
        p50 = rng.uniform(2, 4)
        figures = Figures(count=70, p50=round(p50, 3), p95=round(p50 + 1, 3), max=round(p50 + 2, 3))
        latency = LatencySummary(alerts=70, watermark_seconds=10, window_seconds=30, latency_seconds=figures,
                                 from_last_sample_seconds=figures, unmeasured=0, emitted_before_last_send=50,
                                 first_send_at="2026-11-25T02:00:00.000Z", last_send_at="2026-11-25T02:01:00.000Z")
    when = start + timedelta(hours=n)
    extra = {"alert_latency": latency} if latency else {}
    return ValidationRecord(run_id=f"scheduled__{when.isoformat()}", validated_at=when.isoformat(timespec="seconds"),
                            duration_seconds=round(rng.uniform(25, 45), 1), dataset=dataset,
                            mode="live" if live else "batch", tolerance=0.0, passed=not failed, cpu_mem=part,
                            net_disk=NotApplicablePart(status="not applicable", reason="no NET/DISK"), **extra)


def write_runs(root: Path, runs: int = RUNS, seed: int = 0) -> list[Path]:
    """``runs`` run folders in ``root``, one an hour from 2026-01-01, the datasets in turn."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, 2, 0, tzinfo=timezone.utc)
    folders = []
    for n in range(runs):
        folder = root / f"run-{n:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        synthetic_record(n, DATASETS[n % len(DATASETS)], rng, start).write(folder / "validation.json")
        (folder / "report.html").write_text("<!doctype html><title>report</title>\n")
        folders.append(folder)
    return folders


def _timed(fn, repeats: int = REPEATS) -> dict:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        size = len(fn())
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "max_ms": max(times), "bytes": size}


def bench_history(runs: int = RUNS) -> dict:
    """Page 1, a filtered page and the JSON API's page 1 over ``runs`` run folders, as the plugin's routes
    compute them (listing, filtering, summaries and trends, rendering); the first listing (every record parsed)
    apart."""
    from include import history

    work = Path(tempfile.mkdtemp(prefix="history-", dir=WORK_DIR))
    try:
        root = work / "output"
        t0 = time.perf_counter()
        write_runs(root, runs)
        log.info("history: %d run folders written in %.1f s", runs, time.perf_counter() - t0)
        roots = [root, work / "second-root"]  # a second output root, empty: listed too
        history._CACHE.clear()
        t0 = time.perf_counter()
        listed = history.list_runs(roots)
        cold_ms = (time.perf_counter() - t0) * 1000
        if len(listed) != runs:
            raise RuntimeError(f"history bench: {len(listed)} runs listed, {runs} written")
        failed = history.RunFilter.parse(dataset=DATASETS[0], status="fail")
        pages = {
            "page1": lambda: history.runs_page(history.list_runs(roots)),
            "filtered": lambda: history.runs_page(history.list_runs(roots), failed),
            "json": lambda: json.dumps([r.to_json() for r in history.paginate(history.list_runs(roots)).rows]),
        }
        result = {"runs": runs, "datasets": len(DATASETS), "cold_listing_ms": cold_ms,
                  "filtered_total": len(failed.apply(listed)), "target_ms": TARGET_MS}
        for name, fn in pages.items():
            result[name] = _timed(fn)
        page = pages["page1"]()
        if page.count("<tr data-run-id=") != history.PER_PAGE or page.count('class="trend"') != len(DATASETS):
            raise RuntimeError("history bench: page 1 does not hold a full page of runs and a plot per dataset")
        result["met"] = all(result[k]["median_ms"] <= TARGET_MS for k in pages)
        log.info("history: %d runs; first listing %.0f ms; page 1 %.0f ms, filtered %.0f ms, JSON %.0f ms", runs,
                 cold_ms, result["page1"]["median_ms"], result["filtered"]["median_ms"], result["json"]["median_ms"])
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown_rows(r: dict, command: str | None = None) -> list[str]:
    """Row 8 of the bench table: | # | figure | ours | baseline | ratio | target | verdict | (and | command |
    when ``command`` is given)."""
    rows = []
    labels = (("8a", "page1", "page 1 (summaries, trend plots, 50 runs)"),
              ("8b", "filtered", f"a filtered page (one dataset, failed runs: {r['filtered_total']:,})"),
              ("8c", "json", "JSON API page 1 (50 runs)"))
    for tag, key, label in labels:
        f = r[key]
        verdict = "met" if f["median_ms"] <= r["target_ms"] else "**missed**"
        rows.append(f"| {tag} | Replay validation page, {r['runs']:,} runs over {r['datasets']} datasets: {label} | "
                    f"{f['median_ms']:.0f} ms (max {f['max_ms']:.0f} ms, {f['bytes'] / 1024:.0f} KiB) | "
                    f"first request (every record parsed): listing {r['cold_listing_ms']:.0f} ms | - | "
                    f"<= {r['target_ms']} ms | {verdict} |" + (f" {command} |" if command else ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=RUNS)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "history.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bench.run import machine

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), **bench_history(args.runs)}
    return write_part_results(result, args.out, markdown_rows(result))


if __name__ == "__main__":
    sys.exit(main())
