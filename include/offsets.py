"""Offset bookkeeping: exactly which records one produce attempt wrote, and the manifest that hands it on.

The producer records every acknowledged (topic, partition, offset). The Spark job then reads exactly
[first, last + 1) of each partition and keeps only records whose ``replay-attempt`` header is this
attempt's id. So records of earlier replays, or of a failed earlier attempt of the same run, never leak in,
and the job checks that it read as many records as were acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from include.paths import write_atomically

RUN_HEADER = "replay-run"  # the Airflow run id, for people reading the topics
ATTEMPT_HEADER = "replay-attempt"  # one produce attempt of that run; what the Spark job filters on


class ManifestError(ValueError):
    """A manifest that is missing, malformed, or does not describe a complete produce."""


@dataclass
class OffsetTracker:
    """Accumulates delivery reports: offset ranges and counts per topic, and failures."""

    ranges: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    first_error: str | None = None

    def record(self, topic: str, partition: int, offset: int) -> None:
        parts = self.ranges.setdefault(topic, {})
        span = parts.get(partition)
        if span is None:
            parts[partition] = [offset, offset + 1]
        else:
            if offset < span[0]:
                span[0] = offset
            if offset + 1 > span[1]:
                span[1] = offset + 1
        self.acked[topic] = self.acked.get(topic, 0) + 1

    def record_failure(self, error: str) -> None:
        self.failed += 1
        if self.first_error is None:
            self.first_error = error

    @property
    def total_acked(self) -> int:
        return sum(self.acked.values())


@dataclass
class Manifest:
    """What one successful produce attempt wrote; the contract between produce_metrics and the Spark job."""

    run_id: str
    attempt_id: str
    bootstrap_servers: str
    dataset_path: str
    first_second: int
    has_net_disk: bool
    # topic -> partition (as str, JSON keys) -> [start, end) offsets
    offsets: dict[str, dict[str, list[int]]]
    counts: dict[str, int]

    @classmethod
    def from_tracker(cls, tracker: OffsetTracker, **kw) -> Manifest:
        offsets = {t: {str(p): list(span) for p, span in sorted(parts.items())}
                   for t, parts in sorted(tracker.ranges.items())}
        return cls(offsets=offsets, counts=dict(sorted(tracker.acked.items())), **kw)

    def spark_offsets(self, topics: list[str]) -> tuple[str, str]:
        """Spark Kafka source ``startingOffsets`` / ``endingOffsets`` JSON for these topics."""
        missing = [t for t in topics if t not in self.offsets]
        if missing:
            raise ManifestError(f"manifest of run {self.run_id!r} holds no records for topic(s) {missing}")
        start = {t: {p: span[0] for p, span in self.offsets[t].items()} for t in topics}
        end = {t: {p: span[1] for p, span in self.offsets[t].items()} for t in topics}
        return json.dumps(start, sort_keys=True), json.dumps(end, sort_keys=True)

    def write(self, path: Path) -> Path:
        write_atomically(path, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, path: Path | str) -> Manifest:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            raise ManifestError(f"{path}: no manifest; did produce_metrics succeed for this run?") from None
        except (json.JSONDecodeError, TypeError) as exc:
            raise ManifestError(f"{path}: malformed manifest: {exc}") from None

