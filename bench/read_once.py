"""One read of a recording in a process of its own, as the producer reads it before and while sending (check
every row, then stream every group), without Kafka: ``python -m bench.read_once PATH``.

Prints one JSON line: rows, groups, the seconds of each pass and the process's peak RSS (VmHWM)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.common import own_peak_rss_bytes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("dataset")
    args = p.parse_args(argv)
    from include import dataset

    t0 = time.perf_counter()
    ds = dataset.load(args.dataset)
    t1 = time.perf_counter()
    rows = groups = 0
    for group in ds.stream_groups():
        groups += 1
        rows += len(group.samples)
    t2 = time.perf_counter()
    if rows != ds.rows or groups != ds.group_count():
        raise SystemExit(f"streamed {rows} rows in {groups} groups, but the check counted {ds.rows} in "
                         f"{ds.group_count()}")
    print(json.dumps({"rows": rows, "groups": groups, "runs": len(ds.runs or ()), "check_seconds": t1 - t0,
                      "stream_seconds": t2 - t1, "peak_rss_bytes": own_peak_rss_bytes()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
