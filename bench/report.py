"""The bench's Markdown table: every figure with its baseline, the ratio and the target's verdict."""

from __future__ import annotations

MIB = 1024 * 1024


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} s"


def _mib(x: float | None) -> str:
    return "-" if not x else f"{x / MIB:.0f} MiB"


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Machine: {m['cpus']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
             f"Python {m['python']}; load average at start {', '.join(f'{x:.1f}' for x in m['load_at_start'])}. "
             f"Date: {r['date']}. Command: `{r['command']}` ({r.get('bench_seconds', 0) / 60:.1f} min).", "",
             "| # | figure | ours | baseline | ratio | target | verdict |", "|---|---|---|---|---|---|---|"]
    row = lambda *c: lines.append("| " + " | ".join(str(x) for x in c) + " |")  # noqa: E731
    pr = r.get("producer")
    if pr:
        row("1", f"producer throughput, unpaced, {pr['scale']}x ({pr['messages']:,} messages, "
                 f"{pr['record_bytes']} B avg key+value, acks=all)", f"{pr['ours_msg_per_s']:,.0f} msg/s",
            f"Kafka ProducerPerformance {pr['java_msg_per_s']:,.0f} msg/s", f"{pr['ratio_vs_java']:.2f}x",
            ">= 0.5x", _verdict(pr["met"]))
        row("1b", "producer throughput vs the seed's loop (iterrows, send per row, flush per group)",
            f"{pr['ours_msg_per_s']:,.0f} msg/s", f"seed loop {pr['seed_msg_per_s']:,.0f} msg/s",
            f"{pr['ratio_vs_seed']:.1f}x", "-", "-")
    pa = r.get("pacing")
    if pa:
        row("2a", f"pacing final drift, {pa['seconds_per_group']} s/group x {pa['groups']:,} groups",
            f"{pa['ours_final_drift_ms']:.2f} ms", f"seed sleep-after-send {pa['seed_final_drift_ms']:,.0f} ms",
            f"{pa['seed_final_drift_ms'] / max(pa['ours_final_drift_ms'], 1e-3):,.0f}x less drift", "<= 5 ms",
            _verdict(pa["ours_final_drift_ms"] <= 5))
        row("2b", "pacing p99 lateness", f"{pa['ours_p99_lateness_ms']:.2f} ms",
            f"seed {pa['seed_p99_lateness_ms']:,.0f} ms", "-", "<= 10 ms", _verdict(pa["ours_p99_lateness_ms"] <= 10))
    ps = r.get("pacing_speed")
    if ps:
        row("2c", f"pacing at speed {ps['speed']:g}: final drift, {ps['recorded_seconds']:,} recorded s with gaps "
                  f"({ps['groups']:,} groups)", f"{ps['final_drift_ms']:.2f} ms",
            f"achieved speed {ps['achieved_speed']:.3f}x ({ps['achieved_seconds']:.2f} s)", "-", "<= 5 ms",
            _verdict(ps["final_drift_ms"] <= 5))
        row("2d", f"pacing at speed {ps['speed']:g}: p99 lateness", f"{ps['p99_lateness_ms']:.2f} ms", "-", "-",
            "<= 10 ms", _verdict(ps["p99_lateness_ms"] <= 10))
    sp = r.get("spark")
    if sp:
        runs = {int(k): v for k, v in sp["runs"].items()}
        row("3", "Spark start-up alone (spark-submit, session, one trivial action)", _s(sp["startup"]["seconds"]),
            "-", "-", "-", "-")
        for scale, v in sorted(runs.items()):
            target, limit = {10: ("<= 1.5x the 1x time", 1.5), 100: ("<= 5x the 1x time", 5.0)}.get(scale, ("-", None))
            ratio = v.get("ratio_vs_1x")
            row(f"3.{scale}x", f"Spark job from Kafka, {scale}x ({v['records']:,} records), validated",
                f"{_s(v['seconds'])}" + (f" ({ratio:.2f}x the 1x time)" if ratio and scale != 1 else ""),
                f"pandas on the CSV {_s(v['pandas_seconds'])}", f"Spark/pandas {v['spark_over_pandas']:.1f}x",
                target, _verdict(None if limit is None or ratio is None else ratio <= limit))
        peak = max(v["driver_peak"]["total"] for v in runs.values())
        jvm = max(v["driver_peak"]["jvm"] for v in runs.values())
        row("3d", "Spark driver peak RSS (JVM + PySpark driver Python, max over sizes)",
            f"{_mib(peak)} (JVM {_mib(jvm)})", "pandas peak " + ", ".join(
                f"{s}x {_mib(v['pandas_peak_rss_bytes'])}" for s, v in sorted(runs.items())), "-", "<= 1.5 GiB",
            _verdict(peak <= 1.5 * 1024 * MIB))
    e = r.get("e2e")
    if e:
        t = {k: v["seconds"] or 0 for k, v in e["tasks"].items()}
        startup = e.get("spark_startup_seconds") or 0
        row("4", "end-to-end DAG, dag.test(), real day unpaced (57,600 messages), byte-identical",
            _s(e["dag_test_seconds"]), "-", "-", "<= 60 s", _verdict(e["met"]))
        row("4a", "… Airflow overhead (dag.test minus task run times; first-task imports in check_broker below)",
            _s(e["airflow_overhead_seconds"]), "-", "-", "-", "-")
        row("4b", "… check_broker + ensure_topics", _s(t.get("check_broker", 0) + t.get("ensure_topics", 0)),
            "-", "-", "-", "-")
        row("4c", "… produce_metrics", _s(t.get("produce_metrics")), "-", "-", "-", "-")
        row("4d", "… window_metrics: Spark start-up (measured alone, row 3)", _s(min(startup, t.get("window_metrics", 0))),
            "-", "-", "-", "-")
        row("4e", "… window_metrics: Spark work (task time minus start-up)",
            _s(max(0.0, t.get("window_metrics", 0) - startup)), "-", "-", "-", "-")
        row("4f", "… validate_output", _s(t.get("validate_output")), "-", "-", "-", "-")
    w = r.get("e2e_warm")
    if w:
        row("4w", "end-to-end DAG with a warm Spark (window_metrics through a Spark Connect server started before), "
                  f"real day unpaced, byte-identical; median of {len(w['warm'])} runs, each followed by a "
                  "spark-submit run", f"{_s(w['dag_test_seconds'])} (the server's first run {_s(w['first_seconds'])})",
            f"spark-submit end to end, median of {len(w['spark_submit'])} (row 4's and the interleaved) "
            f"{_s(w['spark_submit_seconds'])}", f"{w['ratio']:.2f}x (first run {w['first_ratio']:.2f}x)",
            f"<= {w['target_ratio']}x", _verdict(w["met"]))
        row("4wa", "… window_metrics through Spark Connect", _s(w["window_metrics_seconds"]),
            f"spark-submit's window_metrics {_s(w['spark_submit_window_seconds'])}",
            f"{w['window_metrics_seconds'] / w['spark_submit_window_seconds']:.2f}x", "-", "-")
        row("4wm", "… the Spark Connect server: memory (RSS once started; peak after the runs) and start-up "
                   "(once per `make up`)", f"{_mib(w['server_rss_bytes'])}; peak {_mib(w['server_peak_rss_bytes'])}",
            f"started in {_s(w['server_start_seconds'])}, warmed up in {_s(w.get('server_warm_up_seconds'))}",
            "-", "-", "-")
    lv = r.get("live")
    if lv:
        row("7", f"live mode end to end, real day at speed {lv['speed']:g} (200 groups/s), byte-identical",
            _s(lv["live_seconds"]), f"batch mode, same pace, same run {_s(lv['batch_seconds'])}",
            f"{lv['live_over_batch']:.2f}x", "-", "-")
        for key, label in (("seed", "the seed's pace (1 group/s)"), ("10x", "10x the seed's pace (10 groups/s)")):
            run = lv["paced"][key]
            lat = run["latency"]["latency_seconds"]
            last = run["latency"]["from_last_sample_seconds"]
            row(f"7{'a' if key == 'seed' else 'b'}", f"alert latency at {label}, short recording "
                f"({run['latency']['alerts']} alerts; {run['latency']['emitted_before_last_send']} while sending)",
                f"p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s",
                f"from the window's last sample p50 {last['p50']:.2f} s, p95 {last['p95']:.2f} s", "-", "-", "-")
        fl = lv.get("fast_latency")
        if fl:
            row("7c", f"alert latency at speed {lv['speed']:g}, real day ({fl['alerts']} alerts)",
                f"p50 {fl['latency_seconds']['p50']:.2f} s, p95 {fl['latency_seconds']['p95']:.2f} s", "-", "-", "-",
                "-")
    mem = r.get("producer_memory")
    if mem:
        peaks = {int(k): v for k, v in mem["peak_rss_bytes"].items() if v}
        for scale, v in sorted(peaks.items()):
            row(f"5.{scale}x", f"producer peak RSS (whole process: load, check, send), {scale}x", _mib(v), "-", "-",
                "<= 400 MB at 100x" if scale == 100 else "-",
                _verdict(v <= 400 * 10**6) if scale == 100 else "-")
        if "growth_10x_to_100x" in mem:
            row("5f", "producer peak RSS growth from 10x to 100x", f"{mem['growth_10x_to_100x']:.2f}x", "-", "-",
                "flat (<= 1.25x)", _verdict(mem["growth_10x_to_100x"] <= 1.25))
    if r.get("compressed"):
        from bench.compressed import markdown_rows

        lines.extend(markdown_rows(r["compressed"]))
    if r.get("history"):
        from bench.history import markdown_rows as history_rows

        lines.extend(history_rows(r["history"]))
    return "\n".join(lines) + "\n"
