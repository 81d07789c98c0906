"""The performance bench: ``make bench`` (``python -m bench.run``).

Every comparison runs side by side in one invocation on one broker and is reported as a ratio, because a
2-core machine is noisy. Row 6 (bench/compressed.py, also on its own: ``make bench-compressed``) reads the
largest day compressed against plain; row 8 (bench/history.py, also on its own: ``make bench-history``) serves the
Replay validation page over 2,000 run folders. Every run checks its output: produce runs must have every message acknowledged,
Spark and pandas outputs must be byte-identical to the reference implementation's, and the end-to-end
DAG run must validate (byte-identical to the team's expected file).

Sizes: ``--sizes 1,10,100`` (or BENCH_SIZES); 1x = 20 servers x 1,440 samples, 100x = 2.88 M samples.
Generated datasets and broker data live in .cache/bench (git-ignored); results go to
bench/results/latest.json and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import datasets, kafka_perf, spark_runs
from bench.compressed import bench_compressed
from bench.common import (MIB, PRODUCER_OVER_JAVA, PYTHON, RESULTS_DIR, WORK_DIR, child_env, last_json_line,
                          peak_rss_bytes, rss_bytes, run_measured)
from bench.history import bench_history
from bench.report import markdown
from devtools.kafka import LocalBroker, free_port
from include.paths import PROJECT_ROOT

log = logging.getLogger("bench")

REAL_DATASET = PROJECT_ROOT.parent / "shared" / "data" / "team_04_CPU_MEM_RAW.csv"
REAL_EXPECTED = PROJECT_ROOT.parent / "shared" / "data" / "expected mem.csv"
PERF_TOPIC = "bench-perf"
PACE = 0.05
SPEED = 50  # pacing at a speed: the gapped recording's hour in 72 s


def produce_run(impl: str, ds: datasets.Scaled | Path, bootstrap: str, pace: float = 0.0,
                manifest: Path | None = None, speed: float | None = None, rows: int | None = None) -> dict:
    """One producer run in its own process; raises unless every message was acknowledged.

    ``ds`` is a scaled dataset, or a dataset file of ``rows`` rows."""
    if isinstance(ds, datasets.Scaled):
        path, rows, scale = ds.dataset, ds.rows, f"{ds.scale}x"
    else:
        path, scale = ds, ds.parent.name
    cmd = [PYTHON, "-m", "bench.produce_once", "--impl", impl, "--dataset", str(path),
           "--bootstrap", bootstrap, "--seconds-per-group", str(pace)]
    if speed is not None:
        cmd += ["--speed", str(speed)]
    if manifest is not None:
        cmd += ["--manifest", str(manifest)]
    m = run_measured(cmd).check(f"{impl} producer on {path}")
    out = last_json_line(m.stdout)
    expected_messages = rows * 4
    if out["messages"] != expected_messages or out["acked"] != expected_messages:
        raise RuntimeError(f"{impl} producer: {out['acked']} of {out['messages']} acknowledged, "
                           f"expected {expected_messages}")
    out["msg_per_s"] = out["messages"] / out["seconds"]
    log.info("%s producer %s %s: %d messages in %.1f s (%.0f msg/s), peak RSS %.0f MiB", impl, scale,
             f"speed {speed:g}" if speed is not None else f"pace {pace:g}", out["messages"], out["seconds"],
             out["msg_per_s"], out["peak_rss_bytes"] / MIB)
    return out


def average_record_bytes(ds: datasets.Scaled) -> int:
    """Average key + value bytes of our producer's messages for this dataset (headers not counted)."""
    from include import contract, dataset, producer

    data = dataset.load(ds.dataset)
    prefix = len('{"timestamp": "00:00:00", "original_ts": "00:00:00", "event_time": "1970-01-01T00:00:00Z", '
                 '"server_id": ') + len("}")
    total = count = 0
    server_json = [len(json.dumps(s)) + len(s.encode()) for s in data.servers]  # value's id text + key
    for topic, fields in contract.TOPIC_FIELDS.items():
        if not all(f in data.values for f in fields):
            continue
        body = sum(len(f', "{f}": ') * data.rows for f in fields)
        for f in fields:
            body += sum(len(producer.json_number(f, v)) for v in data.values[f].tolist())
        total += body + prefix * data.rows + sum(server_json[i] for i in data.server_index.tolist())
        count += data.rows
    return round(total / count)


def bench_producer(bootstrap: str, ds10: datasets.Scaled, manifest: Path, rounds: int) -> dict:
    """Ours against ProducerPerformance, same message count and size, acks=all: ``rounds`` rounds of one run
    each, after one unmeasured ProducerPerformance run that warms the new broker up (its JIT, its page cache:
    on a just-started broker whichever tool ran first paid it, 112k and 141k msg/s where the later rounds gave
    180k-220k). Who goes first alternates round by round, and the ratio is of the medians."""
    record = average_record_bytes(ds10)
    warm_up, _ = kafka_perf.producer_performance(bootstrap, PERF_TOPIC, ds10.rows * 4, record)
    log.info("broker warm-up (ProducerPerformance, not counted): %.0f records/s", warm_up["records_per_s"])
    ours, java = [], []

    def run_java() -> None:
        res, m = kafka_perf.producer_performance(bootstrap, PERF_TOPIC, ds10.rows * 4, record)
        res["peak_rss_bytes"] = m.peak_of("java")
        java.append(res)
        log.info("ProducerPerformance: %.0f records/s (%d records of %d bytes, acks=all)", res["records_per_s"],
                 res["records"], record)

    for r in range(rounds):  # interleaved, so drift in the machine's load hits both alike
        if r % 2:
            run_java()
        ours.append(produce_run("ours", ds10, bootstrap, manifest=manifest if r == 0 else None))
        if not r % 2:
            run_java()
    seed = produce_run("seed", ds10, bootstrap)
    ours_rate = statistics.median(o["msg_per_s"] for o in ours)
    java_rate = statistics.median(j["records_per_s"] for j in java)
    return {"scale": ds10.scale, "messages": ds10.rows * 4, "record_bytes": record, "ours": ours, "java": java,
            "seed": seed, "warm_up": warm_up, "ours_msg_per_s": ours_rate, "java_msg_per_s": java_rate,
            "seed_msg_per_s": seed["msg_per_s"], "ratio_vs_java": ours_rate / java_rate,
            "ratio_vs_seed": ours_rate / seed["msg_per_s"], "target_ratio_vs_java": PRODUCER_OVER_JAVA,
            "met": ours_rate / java_rate >= PRODUCER_OVER_JAVA}


def bench_pacing(bootstrap: str, ds1: datasets.Scaled) -> dict:
    ours = produce_run("ours", ds1, bootstrap, pace=PACE)
    seed = produce_run("seed", ds1, bootstrap, pace=PACE)
    if ours["groups"] != 1440 or seed["groups"] != 1440:
        raise RuntimeError(f"pacing bench expects 1,440 groups, got {ours['groups']} / {seed['groups']}")
    return {"seconds_per_group": PACE, "groups": ours["groups"], "ours": ours, "seed": seed,
            "ours_final_drift_ms": ours["final_lateness"] * 1000, "ours_p99_lateness_ms": ours["p99_lateness"] * 1000,
            "seed_final_drift_ms": seed["final_lateness"] * 1000, "seed_p99_lateness_ms": seed["p99_lateness"] * 1000,
            "met": ours["final_lateness"] <= 0.005 and ours["p99_lateness"] <= 0.010}


def bench_pacing_speed(bootstrap: str, speed: float = SPEED) -> dict:
    """Pacing at a speed over a recording with gaps: every group due at its recorded distance from the first
    divided by speed. Drift and lateness as for seconds_per_group (row 2), and the pace the manifest reports."""
    path = datasets.gapped()
    groups = len(datasets.gapped_seconds())
    ours = produce_run("ours", path, bootstrap, speed=speed, rows=groups * datasets.GAPPED_SERVERS)
    if ours["groups"] != groups or ours["pace"]["recorded_seconds"] != datasets.GAPPED_SPAN:
        raise RuntimeError(f"pacing-at-speed bench expects {groups} groups over {datasets.GAPPED_SPAN} recorded s, "
                           f"got {ours['groups']} over {ours['pace']['recorded_seconds']}")
    pace = ours["pace"]
    return {"speed": speed, "groups": groups, "recorded_seconds": pace["recorded_seconds"], "ours": ours,
            "final_drift_ms": ours["final_lateness"] * 1000, "p99_lateness_ms": ours["p99_lateness"] * 1000,
            "achieved_speed": pace["achieved"], "achieved_seconds": pace["achieved_seconds"],
            "met": ours["final_lateness"] <= 0.005 and ours["p99_lateness"] <= 0.010}


def _identical(produced: Path, expected: Path) -> bool:
    return produced.exists() and produced.read_bytes() == expected.read_bytes()


SPARK_100X_OVER_1X = 3.0  # issue 17's targets (were 5x and none)
SPARK_OVER_PANDAS_100X = 3.0
SPARK_REPEATS = 2  # Spark and pandas runs per size, interleaved; the ratios use each one's best


def bench_spark(scaled: dict[int, datasets.Scaled], manifests: dict[int, Path], out_root: Path,
                repeats: int = SPARK_REPEATS) -> dict:
    noop = spark_runs.run_noop()
    startup = {"seconds": noop.seconds, "driver_peak": spark_runs.driver_peak(noop)}
    log.info("Spark start-up alone: %.1f s", noop.seconds)
    runs = {}
    for scale, ds in sorted(scaled.items()):
        spark_s, pandas_s, peaks, pandas_peaks, p = [], [], [], [], {}
        for attempt in range(repeats):  # Spark, pandas, Spark, pandas: drift in the load hits both alike
            out = out_root / f"spark-{scale}x-{attempt}"
            m = spark_runs.run_job(manifests[scale], out)
            ok = _identical(out / "cpu_mem.csv", ds.expected_cpu_mem) and _identical(out / "net_disk.csv",
                                                                                     ds.expected_net_disk)
            if not ok:
                raise RuntimeError(f"Spark output at {scale}x differs from the reference ({out})")
            shutil.rmtree(out, ignore_errors=True)
            pandas_out = out_root / f"pandas-{scale}x-{attempt}"
            pm = run_measured([PYTHON, "-m", "bench.pandas_windows", str(ds.dataset), str(pandas_out)])
            p = last_json_line(pm.check(f"pandas at {scale}x").stdout)
            p_ok = (_identical(pandas_out / "cpu_mem.csv", ds.expected_cpu_mem)
                    and _identical(pandas_out / "net_disk.csv", ds.expected_net_disk))
            if not p_ok:
                raise RuntimeError(f"pandas output at {scale}x differs from the reference")
            shutil.rmtree(pandas_out, ignore_errors=True)
            spark_s.append(m.seconds)
            pandas_s.append(pm.seconds)
            peaks.append(spark_runs.driver_peak(m))
            pandas_peaks.append(p["peak_rss_bytes"])
            log.info("Spark %dx run %d: %.1f s (driver peak %.0f MiB); pandas %.1f s", scale, attempt + 1, m.seconds,
                     peaks[-1]["total"] / MIB, pm.seconds)
        runs[scale] = {"seconds": min(spark_s), "seconds_runs": spark_s,
                       "driver_peak": max(peaks, key=lambda d: d["total"]), "validated": True,
                       "records": ds.rows * 4, "pandas_seconds": min(pandas_s), "pandas_seconds_runs": pandas_s,
                       "pandas_compute_seconds": p["seconds"], "pandas_peak_rss_bytes": max(pandas_peaks),
                       "pandas_validated": True, "spark_over_pandas": min(spark_s) / min(pandas_s)}
    result = {"startup": startup, "runs": runs}
    if 1 in runs:
        base = runs[1]["seconds"]
        for scale, r in runs.items():
            r["ratio_vs_1x"] = r["seconds"] / base
        result["targets"] = {"10x_over_1x": 1.5, "100x_over_1x": SPARK_100X_OVER_1X,
                             "100x_spark_over_pandas": SPARK_OVER_PANDAS_100X,
                             "driver_peak_bytes": int(1.5 * 1024 * MIB)}
    return result


def bench_e2e(bootstrap: str, work: Path) -> dict:
    home = work / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    from devtools import airflow_home

    t0 = time.perf_counter()
    airflow_home.migrate(home)
    migrate_s = time.perf_counter() - t0
    out = work / "e2e output"  # a space, like the team's file name
    m = run_measured([PYTHON, "-m", "bench.e2e_once", "--bootstrap", bootstrap, "--airflow-home", str(home),
                      "--dataset", str(REAL_DATASET), "--expected", str(REAL_EXPECTED), "--output-dir", str(out)],
                     env=child_env())
    res = last_json_line(m.check("end-to-end DAG run").stdout)
    if res["state"] != "success" or not res["byte_identical"] or not res["validation_passed"]:
        raise RuntimeError(f"end-to-end run did not validate: {json.dumps(res)}\n{m.stderr[-3000:]}")
    res["migrate_seconds"] = migrate_s
    res["process_seconds"] = m.seconds
    res["task_seconds_total"] = sum(t["seconds"] or 0 for t in res["tasks"].values())
    res["airflow_overhead_seconds"] = res["dag_test_seconds"] - res["task_seconds_total"]
    res["met"] = res["dag_test_seconds"] <= 60
    log.info("end to end: dag.test() %.1f s, validated byte-identical", res["dag_test_seconds"])
    return res


LIVE_SPEED = 1000  # the real day's 5 s steps at 200 groups a second
SEED_PACE = 1.0  # seconds per group: the seed's pace
SHORT_THRESHOLDS = {"cpu_threshold": 40.0, "mem_threshold": 50.0, "net_threshold": 3000.0, "disk_threshold": 900.0}


def e2e_run(bootstrap: str, home: Path, out: Path, dataset: Path, expected: Path, conf: dict,
            expected_net_disk: Path | None = None, what: str = "end-to-end DAG run",
            spark_connect: int | None = None) -> dict:
    """One dag.test() run in its own process; raises unless it succeeded and validated byte-identical.
    ``spark_connect``: the port of a Spark Connect server on 127.0.0.1 that spark_default points at."""
    cmd = [PYTHON, "-m", "bench.e2e_once", "--bootstrap", bootstrap, "--airflow-home", str(home),
           "--dataset", str(dataset), "--expected", str(expected), "--output-dir", str(out), "--conf", json.dumps(conf)]
    if expected_net_disk is not None:
        cmd += ["--expected-net-disk", str(expected_net_disk)]
    if spark_connect is not None:
        cmd += ["--spark-connect", str(spark_connect)]
    m = run_measured(cmd, env=child_env())
    res = last_json_line(m.check(what).stdout)
    if res["state"] != "success" or not res["byte_identical"] or not res["validation_passed"]:
        raise RuntimeError(f"{what} did not validate: {json.dumps(res)}\n{m.stderr[-3000:]}")
    res["process_seconds"] = m.seconds
    return res


WARM_PAIRS = 2  # warm-Spark runs, each followed by a spark-submit run, after the server's first run


def bench_e2e_warm(bootstrap: str, work: Path, spark_submit: dict | None) -> dict:
    """Row 4w: the real day end to end with a warm Spark against spark-submit, in this bench run.

    A Spark Connect server is started and warmed up first, as `make up` does (timed apart: paid once). Its first
    replay still pays the first Kafka read's warm-up and is reported apart; then WARM_PAIRS replays
    through the server, each followed by a spark-submit replay (interleaved, so the machine's load drifts into
    both alike). The ratio is the median warm run over the median spark-submit run (these and row 4's). The
    server's memory: its RSS once started and its peak after the runs."""
    from devtools.spark_connect import LocalSparkConnect

    home = work / "airflow"
    server = LocalSparkConnect(home=work / "spark-connect", port=free_port())
    t0 = time.perf_counter()
    server.start()
    start_s = time.perf_counter() - t0
    pid = server.pid()
    idle = rss_bytes(pid)
    warm_up_s = server.warm_up()  # as `make up` does
    warm, submit = [], [spark_submit] if spark_submit else []
    try:
        first = e2e_run(bootstrap, home, work / "warm output 0", REAL_DATASET, REAL_EXPECTED, {},
                        what="first end-to-end DAG run with a warm Spark", spark_connect=server.port)
        for i in range(1, WARM_PAIRS + 1):
            warm.append(e2e_run(bootstrap, home, work / f"warm output {i}", REAL_DATASET, REAL_EXPECTED, {},
                                what=f"end-to-end DAG run {i} with a warm Spark", spark_connect=server.port))
            submit.append(e2e_run(bootstrap, home, work / f"spark-submit output {i}", REAL_DATASET, REAL_EXPECTED,
                                  {}, what=f"end-to-end DAG run {i} with spark-submit"))
        peak = peak_rss_bytes(pid)
    finally:
        server.stop()

    def median(runs: list[dict], key=lambda r: r["dag_test_seconds"]) -> float:
        return statistics.median(key(r) for r in runs)

    window = lambda r: r["tasks"]["window_metrics"]["seconds"]  # noqa: E731
    result = {"server_start_seconds": start_s, "server_warm_up_seconds": warm_up_s, "server_rss_bytes": idle,
              "server_peak_rss_bytes": peak,
              "first": first, "warm": warm, "spark_submit": submit, "first_seconds": first["dag_test_seconds"],
              "dag_test_seconds": median(warm), "window_metrics_seconds": median(warm, window),
              "spark_submit_seconds": median(submit), "spark_submit_window_seconds": median(submit, window),
              "target_ratio": 0.4}
    result["ratio"] = result["dag_test_seconds"] / result["spark_submit_seconds"]
    result["first_ratio"] = result["first_seconds"] / result["spark_submit_seconds"]
    result["met"] = result["ratio"] <= result["target_ratio"]
    log.info("end to end with a warm Spark: %.1f s (first run after the server started %.1f s), spark-submit %.1f s: "
             "%.2fx; server started in %.1f s, RSS %.0f MiB, peak %.0f MiB", result["dag_test_seconds"],
             result["first_seconds"], result["spark_submit_seconds"], result["ratio"], start_s, idle / MIB, peak / MIB)
    return result


def bench_live(bootstrap: str, work: Path) -> dict:
    """Live mode beside batch mode: the real day end to end at the same fast pace in both modes, then the alert
    latency of a short recording (3 servers, a sample every 2 s for 2 minutes, thresholds that make most
    windows alert) at the seed's pace (a group a second) and at 10x that."""
    from devtools import generate, reference

    home = work / "airflow"
    fast = {"speed": LIVE_SPEED, "expected_net_disk_path": None}
    batch = e2e_run(bootstrap, home, work / "batch-fast", REAL_DATASET, REAL_EXPECTED, fast,
                    what="batch run at speed 1000")
    live = e2e_run(bootstrap, home, work / "live-fast", REAL_DATASET, REAL_EXPECTED, {**fast, "mode": "live"},
                   what="live run at speed 1000")
    short = work / "short"
    short.mkdir(parents=True, exist_ok=True)
    dataset = generate.write_dataset(short / "short.csv", servers=3, samples=60, step=2, seed=11)
    expected, expected_nd = short / "expected.csv", short / "net_disk_expected.csv"
    reference.write_expected(dataset, expected, expected_nd, **SHORT_THRESHOLDS)
    paced = {}
    for label, pace in (("seed", SEED_PACE), ("10x", SEED_PACE / 10)):
        paced[label] = e2e_run(bootstrap, home, work / f"live-{label}", dataset, expected,
                               {"mode": "live", "seconds_per_group": pace, **SHORT_THRESHOLDS}, expected_nd,
                               what=f"live run at {pace:g} s per group")
        paced[label]["seconds_per_group"] = pace
    result = {"speed": LIVE_SPEED, "batch_seconds": batch["dag_test_seconds"],
              "live_seconds": live["dag_test_seconds"],
              "live_over_batch": live["dag_test_seconds"] / batch["dag_test_seconds"],
              "fast_latency": live["latency"], "paced": {k: {"seconds_per_group": v["seconds_per_group"],
                                                            "dag_test_seconds": v["dag_test_seconds"],
                                                            "latency": v["latency"]} for k, v in paced.items()},
              "short_recording": {"servers": 3, "samples": 60, "step_seconds": 2, **SHORT_THRESHOLDS}}
    log.info("live: real day at speed %d in %.1f s (batch %.1f s); latency p50 at the seed's pace %s s, at 10x %s s",
             LIVE_SPEED, result["live_seconds"], result["batch_seconds"],
             paced["seed"]["latency"]["latency_seconds"]["p50"], paced["10x"]["latency"]["latency_seconds"]["p50"])
    return result


# The bench's parts, in the order it runs them (--skip / --only).
PARTS = ("producer", "pacing", "speed", "spark", "e2e", "warm", "live", "compressed", "history")


def machine() -> dict:
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "python": platform.python_version(), "load_at_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "1,10,100"),
                   help="dataset scales for the Spark/pandas and memory figures (default 1,10,100)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of ours vs ProducerPerformance (the "
                                                          "ratio is of the medians: the same tool's rounds here spread "
                                                          "by a quarter and more)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.json")
    p.add_argument("--skip", default="",
                   help=f"comma list of parts to leave out: {','.join(PARTS)}")
    p.add_argument("--only", default="", help="comma list of the only parts to run (the others skipped); "
                                              "each row of the table names the parts that measure it")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := (skip | only) - set(PARTS):
        p.error(f"unknown part(s) {', '.join(sorted(unknown))}; the parts are {', '.join(PARTS)}")
    if only:
        skip |= set(PARTS) - only
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    results: dict = {"date": started.isoformat(timespec="seconds"), "machine": machine(),
                     "command": (("make bench" if sizes == [1, 10, 100] else f"make bench BENCH_SIZES={args.sizes}")
                                 if not skip else " ".join(["python -m bench.run", *(argv or sys.argv[1:])])),
                     "argv": sys.argv[1:], "sizes": sizes}
    scaled = {s: datasets.scaled(s) for s in sorted(set(sizes) | {1, 10})}
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=WORK_DIR))
    broker = LocalBroker(home=work / "kafka", port=free_port(), heap="1g")
    try:
        broker.start()
        from include import contract, topics

        topics.ensure_topics({"bootstrap.servers": broker.bootstrap},
                             [*contract.TOPICS, contract.ALERTS_TOPIC, PERF_TOPIC], 1, 1)
        manifests = {s: work / f"manifest-{s}x.json" for s in scaled}
        if "producer" not in skip:
            results["producer"] = bench_producer(broker.bootstrap, scaled[10], manifests[10], args.rounds)
        else:
            produce_run("ours", scaled[10], broker.bootstrap, manifest=manifests[10])
        memory = {10: results.get("producer", {}).get("ours", [{}])[0].get("peak_rss_bytes")}
        for s in scaled:
            if s != 10:
                run = produce_run("ours", scaled[s], broker.bootstrap, manifest=manifests[s])
                memory[s] = run["peak_rss_bytes"]
                results.setdefault("produce_runs", {})[s] = run
        results["producer_memory"] = {"peak_rss_bytes": memory, "target_bytes": 400 * 10**6}
        if memory.get(10) and memory.get(100):
            results["producer_memory"]["growth_10x_to_100x"] = memory[100] / memory[10]
            results["producer_memory"]["met"] = memory[100] <= 400 * 10**6 and memory[100] / memory[10] <= 1.25
        if "pacing" not in skip:
            results["pacing"] = bench_pacing(broker.bootstrap, scaled[1])
        if "speed" not in skip:
            results["pacing_speed"] = bench_pacing_speed(broker.bootstrap)
        if "spark" not in skip:
            results["spark"] = bench_spark({s: scaled[s] for s in sizes}, manifests, work)
        if "e2e" not in skip:
            results["e2e"] = bench_e2e(broker.bootstrap, work)
            results["e2e"]["spark_startup_seconds"] = results.get("spark", {}).get("startup", {}).get("seconds")
        if "warm" not in skip:
            if "e2e" in skip:
                from devtools import airflow_home

                airflow_home.migrate(work / "airflow")
            results["e2e_warm"] = bench_e2e_warm(broker.bootstrap, work, results.get("e2e"))
        if "live" not in skip:
            if "e2e" in skip:
                from devtools import airflow_home

                airflow_home.migrate(work / "airflow")
            results["live"] = bench_live(broker.bootstrap, work)
        if "compressed" not in skip:  # no broker needed; the largest size (100x by default)
            results["compressed"] = bench_compressed(max(sizes))
        if "history" not in skip:  # the Replay validation page over 2,000 run folders; files only
            results["history"] = bench_history()
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["bench_seconds"] = time.perf_counter() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    table = markdown(results)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
