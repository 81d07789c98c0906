"""The seed's producer loop, reimplemented as the baseline: pandas ``iterrows``, one ``send`` per row and
topic with ``json.dumps`` of a dict, a flush after every timestamp group, then ``sleep`` after the send.

The seed used kafka-python; here it is confluent-kafka (the project's client) with acks=all, so the
comparison is about the loop's shape, not the client library."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pandas as pd
from confluent_kafka import Producer

TOPIC_FIELDS = {"topic-cpu": ("cpu_pct",), "topic-mem": ("mem_pct",), "topic-net": ("net_in", "net_out"),
                "topic-disk": ("disk_io",)}


def produce_seed_style(dataset_path: str, bootstrap: str, seconds_per_group: float) -> dict:
    """Send the dataset as the seed did; return counts and each group's release time (monotonic)."""
    df = pd.read_csv(dataset_path)
    topics = {t: f for t, f in TOPIC_FIELDS.items() if all(c in df.columns for c in f)}
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "log.connection.close": False})
    failed = []
    acked = [0]

    def on_delivery(err, msg):
        if err is not None:
            failed.append(err)
        else:
            acked[0] += 1

    released = []
    sent = 0
    started = time.monotonic()
    for ts, group in df.groupby("timestamp", sort=True):
        released.append(time.monotonic())
        for _, row in group.iterrows():
            base = {"timestamp": datetime.now().strftime("%H:%M:%S"), "original_ts": ts, "server_id": row["server_id"]}
            for topic, fields in topics.items():
                msg = {**base, **{f: row[f].item() if hasattr(row[f], "item") else row[f] for f in fields}}
                producer.produce(topic, key=str(row["server_id"]).encode(), value=json.dumps(msg).encode(),
                                 on_delivery=on_delivery)
                sent += 1
        producer.flush()
        if seconds_per_group:
            time.sleep(seconds_per_group)  # the seed's pacing: a fixed sleep after each group's send
    producer.flush()
    seconds = time.monotonic() - started
    if failed or acked[0] != sent:
        raise RuntimeError(f"seed-style producer: {acked[0]} of {sent} acknowledged, {len(failed)} failed")
    return {"messages": sent, "acked": acked[0], "seconds": seconds, "groups": len(released),
            "released": [t - started for t in released]}
