"""The window outputs of include/spark_job.py in plain pandas, straight from the CSV: the "plain pandas
script" an operator would compare the Spark job with. Same semantics (windows aligned on the earliest
second, float32-narrowed CPU/MEM averaged in 64 bits, HALF_UP on the double's decimal text, warm-up drop,
alerts, number text); its output is checked byte for byte against the reference's."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from include import contract as c
from include.contract import (ALERT_BOTH, ALERT_CPU, ALERT_DISK, ALERT_MEM, ALERT_NET, ALERT_NET_DISK, CPU_MEM_HEADER,
                              NET_DISK_HEADER)


def round_half_up_2(values: np.ndarray) -> np.ndarray:
    """HALF_UP to 2 decimals of each double's shortest decimal text (Spark's round()).

    Away from a tie the exact binary value and its text round alike; values within 1e-6 of a tie
    (in hundredths) are rounded through Decimal(repr(v)) one by one."""
    scaled = values * 100.0
    frac = scaled - np.floor(scaled)
    out = np.floor(scaled + 0.5) / 100.0
    near = np.flatnonzero(np.abs(frac - 0.5) < 1e-6)
    for i in near.tolist():
        out[i] = float(Decimal(repr(float(values[i]))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return out


def _hms(seconds: np.ndarray) -> np.ndarray:
    s = seconds % 86_400
    return np.char.add(np.char.add(np.char.zfill((s // 3600).astype(str), 2), ":"),
                       np.char.add(np.char.add(np.char.zfill((s % 3600 // 60).astype(str), 2), ":"),
                                   np.char.zfill((s % 60).astype(str), 2)))


def _text(values: np.ndarray) -> np.ndarray:
    text = values.astype(str)
    return np.where(np.char.endswith(text, ".0"), np.char.replace(text, ".0", ""), text)


def _alert(first: np.ndarray, second: np.ndarray, both: str, only_first: str, only_second: str) -> np.ndarray:
    return np.select([first & second, first, second], [both, only_first, only_second], default="")


def window_outputs(dataset: Path, out_dir: Path, window_seconds: int = c.WINDOW_SECONDS,
                   slide_seconds: int = c.SLIDE_SECONDS, warmup_windows: int = c.WARMUP_WINDOWS,
                   cpu_threshold: float = c.CPU_THRESHOLD, mem_threshold: float = c.MEM_THRESHOLD,
                   net_threshold: float = c.NET_THRESHOLD, disk_threshold: float = c.DISK_THRESHOLD) -> dict[str, Path]:
    df = pd.read_csv(dataset, dtype={"server_id": str, "timestamp": str})
    ts = df["timestamp"].str
    sec = (ts[0:2].astype(np.int64) * 3600 + ts[3:5].astype(np.int64) * 60 + ts[6:8].astype(np.int64)).to_numpy()
    origin = int(sec.min())
    last = sec - (sec - origin) % slide_seconds
    per_row = window_seconds // slide_seconds  # every row lies in this many windows
    starts = np.concatenate([last - k * slide_seconds for k in range(per_row)])
    base = pd.DataFrame({"server_id": np.tile(df["server_id"].to_numpy(), per_row), "start": starts})
    cols = {"cpu": df["cpu_pct"].to_numpy(np.float32).astype(np.float64),
            "mem": df["mem_pct"].to_numpy(np.float32).astype(np.float64)}
    has_net_disk = "net_in" in df.columns
    if has_net_disk:
        cols |= {"net": df["net_in"].to_numpy(np.float64), "disk": df["disk_io"].to_numpy(np.float64)}
    for name, col in cols.items():
        base[name] = np.tile(col, per_row)
    aggs = {"cpu": "mean", "mem": "mean"} | ({"net": "max", "disk": "max"} if has_net_disk else {})
    w = base.groupby(["server_id", "start"], sort=True).agg(aggs).reset_index()
    w = w[w.groupby("server_id").cumcount() >= warmup_windows]
    w = w.assign(ws=_hms(w["start"].to_numpy()), we=_hms(w["start"].to_numpy() + window_seconds))
    w = w.sort_values(["server_id", "ws"], kind="stable")
    written = {}
    cpu, mem = round_half_up_2(w["cpu"].to_numpy()), round_half_up_2(w["mem"].to_numpy())
    cpu_mem = pd.DataFrame({
        "server_id": w["server_id"].to_numpy(), "window_start": w["ws"].to_numpy(), "window_end": w["we"].to_numpy(),
        "avg_cpu": _text(cpu.astype(np.float32)), "avg_mem": _text(mem.astype(np.float32)),
        "alert": _alert(mem >= mem_threshold, cpu >= cpu_threshold, ALERT_BOTH, ALERT_MEM, ALERT_CPU)})
    out_dir.mkdir(parents=True, exist_ok=True)
    written["cpu_mem"] = out_dir / "cpu_mem.csv"
    cpu_mem.to_csv(written["cpu_mem"], index=False, lineterminator="\n", header=list(CPU_MEM_HEADER))
    if has_net_disk:
        net, disk = round_half_up_2(w["net"].to_numpy()), round_half_up_2(w["disk"].to_numpy())
        net_disk = pd.DataFrame({
            "server_id": w["server_id"].to_numpy(), "window_start": w["ws"].to_numpy(),
            "window_end": w["we"].to_numpy(), "max_net_in": _text(net), "max_disk_io": _text(disk),
            "alert": _alert(net >= net_threshold, disk >= disk_threshold, ALERT_NET_DISK, ALERT_NET, ALERT_DISK)})
        written["net_disk"] = out_dir / "net_disk.csv"
        net_disk.to_csv(written["net_disk"], index=False, lineterminator="\n", header=list(NET_DISK_HEADER))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.pandas_windows DATASET OUT_DIR``: one timed run, one JSON line (own peak RSS)."""
    import json
    import sys
    import time

    from bench.common import own_peak_rss_bytes

    args = sys.argv[1:] if argv is None else argv
    t0 = time.perf_counter()
    written = window_outputs(Path(args[0]), Path(args[1]))
    print(json.dumps({"seconds": time.perf_counter() - t0, "written": {k: str(v) for k, v in written.items()},
                      "peak_rss_bytes": own_peak_rss_bytes()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
