"""One producer run in a process of its own, so its peak RSS is its own: ``python -m bench.produce_once``.

Prints one JSON line: messages, seconds, pacing figures, peak RSS (the kernel's VmHWM) and, for our
producer, the manifest path (the Spark bench reads exactly those records)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

from bench.common import own_peak_rss_bytes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=["ours", "seed"], required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--seconds-per-group", type=float, default=0.0)
    p.add_argument("--speed", type=float, default=None, help="x recorded time (ours only); wins over the above")
    p.add_argument("--manifest")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.impl == "seed":
        if args.speed is not None:
            p.error("--speed is ours only: the seed's loop knows one pace, a sleep after each group")
        from bench.seed_producer import produce_seed_style

        out = produce_seed_style(args.dataset, args.bootstrap, args.seconds_per_group)
        period = args.seconds_per_group
        lateness = [max(0.0, t - i * period) for i, t in enumerate(out.pop("released"))]
        out.update(final_lateness=lateness[-1] if period else None,
                   p99_lateness=sorted(lateness)[int(round(0.99 * (len(lateness) - 1)))] if period else None,
                   max_lateness=max(lateness) if period else None)
    else:
        from include import dataset, producer

        ds = dataset.load(args.dataset)
        result = producer.produce(ds, {"bootstrap.servers": args.bootstrap}, run_id=f"bench-{uuid.uuid4().hex[:8]}",
                                  seconds_per_group=args.seconds_per_group, speed=args.speed)
        if args.manifest:
            result.manifest.write(Path(args.manifest))
        out = {"messages": result.messages, "acked": result.manifest and sum(result.manifest.counts.values()),
               "seconds": result.seconds, "groups": result.groups, "final_lateness": result.final_lateness,
               "p99_lateness": result.p99_lateness, "max_lateness": result.max_lateness,
               "counts": result.manifest.counts, "manifest": args.manifest,
               "pace": result.manifest.pace.model_dump()}
    out["wall_seconds"] = time.perf_counter() - t0
    out["peak_rss_bytes"] = own_peak_rss_bytes()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
