"""Offset bookkeeping: exactly which records one produce attempt wrote, and the manifest that hands it on.

The producer reads each topic's end offsets before it hands over its first message and after the last is
acknowledged: its records lie between (OffsetTracker.cover). The Spark job then reads exactly those ranges
and, unless they hold as many offsets as acknowledged records (no other writer in between), keeps only
records whose ``replay-attempt`` header is this attempt's id. So records of earlier replays, or of a failed
earlier attempt of the same run, never leak in, and the job checks that it read as many records as were
acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt,
                      StringConstraints)

from include.handoff import read_model
from include.pacing import requested_pace
from include.paths import write_atomically


class ManifestError(ValueError):
    """A manifest that is missing, malformed, or does not describe a complete produce."""


def _ordered(span: list[int]) -> list[int]:
    if span[0] > span[1]:
        raise ValueError(f"start offset {span[0]} is after end offset {span[1]}")
    return span


class OffsetError(RuntimeError):
    """The topics' end offsets moved by fewer offsets than the records the broker acknowledged."""


@dataclass
class OffsetTracker:
    """One produce attempt's bookkeeping: failed deliveries as they are reported, then (``cover``) each topic's
    acknowledged count and the offset ranges that hold its records."""

    ranges: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    first_error: str | None = None

    def record_failure(self, error: str) -> None:
        self.failed += 1
        if self.first_error is None:
            self.first_error = error

    def cover(self, before: dict[str, dict[int, int]], after: dict[str, dict[int, int]],
              acked: dict[str, int]) -> None:
        """Every message handed over was acknowledged (``acked`` of each topic): its records lie in
        [before, after) of the topic's partitions, the end offsets read before the first message was handed
        over and after the last was acknowledged (a partition not there before starts at 0). Partitions that
        did not move are left out. OffsetError when a topic's partitions moved by fewer offsets than it has
        acknowledged records (its log was truncated, or the topic deleted and made again, meanwhile)."""
        for topic, count in acked.items():
            if not count:
                continue
            start = before.get(topic, {})
            spans = {p: [start.get(p, 0), end] for p, end in sorted(after.get(topic, {}).items())
                     if end > start.get(p, 0)}
            moved = sum(end - first for first, end in spans.values())
            if moved < count:
                raise OffsetError(f"{topic}'s partitions' end offsets moved by {moved} ({start} -> "
                                  f"{after.get(topic)}) for {count} acknowledged records: records are missing "
                                  "from the log")
            self.ranges[topic] = spans
            self.acked[topic] = count


# [start, end) offsets of one partition: start inclusive, end exclusive, as Spark's Kafka source takes them.
Span = Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
# Partitions are JSON object keys, so strings; Spark's offset JSON needs them to be numbers.
PartitionKey = Annotated[str, StringConstraints(pattern=r"^[0-9]+$")]


class Pace(BaseModel):
    """The pace a replay was asked for and the pace it kept.

    ``mode`` "speed": ``requested`` is the speed (x recorded time, 0 = as fast as possible) and ``achieved``
    is ``recorded_seconds / achieved_seconds``. ``mode`` "seconds_per_group": ``requested`` is the seconds
    per timestamp group (0 = as fast as possible) and ``achieved`` is ``achieved_seconds`` per step from one
    group to the next. ``achieved`` is None when nothing can be measured (one group, or no time passed)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["speed", "seconds_per_group"]
    requested: NonNegativeFloat
    groups: NonNegativeInt
    # Last timeline second minus the first: how long the recording lasted.
    recorded_seconds: NonNegativeInt
    # Wall-clock seconds from the release of the first group to the release of the last (monotonic clock).
    achieved_seconds: NonNegativeFloat
    achieved: NonNegativeFloat | None

    @classmethod
    def measured(cls, mode: Literal["speed", "seconds_per_group"], requested: float, groups: int,
                 recorded_seconds: int, achieved_seconds: float) -> Pace:
        if mode == "speed":
            achieved = recorded_seconds / achieved_seconds if achieved_seconds > 0 else None
        else:
            achieved = achieved_seconds / (groups - 1) if groups > 1 else None
        return cls(mode=mode, requested=float(requested), groups=groups, recorded_seconds=recorded_seconds,
                   achieved_seconds=float(achieved_seconds), achieved=achieved)

    def describe(self) -> str:
        """``requested .. achieved ..`` in the mode's unit, for a log line."""
        if self.mode == "speed":
            asked = requested_pace(self.requested, 0)
            kept = "n/a" if self.achieved is None else f"{self.achieved:.4g}x"
        else:
            asked = requested_pace(None, self.requested)
            kept = "n/a" if self.achieved is None else f"{self.achieved:.4g} s per group"
        return (f"pace requested {asked}, achieved {kept} ({self.recorded_seconds} recorded s in "
                f"{self.achieved_seconds:.3f} s, {self.groups} groups)")


class Manifest(BaseModel):
    """What one successful produce attempt wrote; the contract between produce_metrics and the Spark job.

    Written as manifest.json by produce_metrics, read back (and validated) by the Spark job and validate_output.
    """

    # Strict: the file is written by this model, so anything it would have to coerce is a broken file.
    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str
    attempt_id: str
    bootstrap_servers: str
    dataset_path: str
    # The earliest timeline second (see include.dataset: the UTC epoch second for a dated dataset, seconds since
    # midnight of the first day for a time-of-day one).
    first_second: int
    # Timestamps with dates (outputs then write windows as YYYY-MM-DD HH:MM:SS) rather than times of day.
    dated: bool
    # Added to a timeline second, the recorded UTC epoch second (0 for a dated dataset).
    epoch_offset: int
    # Added to a recorded epoch second, the event time sent (record timestamp, event_time); 0 unless the run
    # used time_shift "now". So timeline second = event epoch second - time_shift_seconds - epoch_offset.
    time_shift_seconds: int
    pace: Pace
    has_net_disk: bool
    # Columns of the dataset files that the replay does not know -> how many values they held; none was sent.
    # (Defaults to none: manifests written before it existed read as they did.)
    ignored_columns: dict[str, NonNegativeInt] = Field(default_factory=dict)
    # topic -> partition (as str, JSON keys) -> [start, end) offsets
    offsets: dict[str, dict[PartitionKey, Span]]
    counts: dict[str, NonNegativeInt]

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

    def holds_only_attempt(self, topics: list[str]) -> bool:
        """Whether the offset ranges of ``topics`` hold this attempt's records and no other.

        Each partition's range runs from its end offset before this attempt's first record to its end offset
        after the last was acknowledged, and a record takes one offset: when a topic's ranges span as many
        offsets as it has acknowledged records, every offset in them is one of these records (no other producer
        wrote in between, no transaction marker).
        An idempotent producer writes each record once. When the ranges span more, records of other attempts
        or producers lie between, and only the attempt header tells them apart."""
        return all(sum(end - start for start, end in self.offsets.get(t, {}).values()) == self.counts.get(t, 0)
                   for t in topics)

    def write(self, path: Path) -> Path:
        # json.dumps rather than model_dump_json: sorted keys, the shape the file has always had.
        write_atomically(path, json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, path: Path | str) -> Manifest:
        """The manifest at ``path``, validated; ManifestError naming the file (and field) otherwise."""
        return read_model(path, cls, ManifestError, "no manifest; did produce_metrics succeed for this run?")
