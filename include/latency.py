"""When the producer sent what (the send log), and how long after that the live job's alerts came out.

The send log (``<output_dir>/send_log.json``, written by produce_metrics in both modes) holds, in send order,
each group's timeline second and the wall-clock moment it was released, each late sample (its own second, when
it went out, and the greatest group second released before it), and in live mode the end-of-replay marker.

Alert latency, per alert of alerts.jsonl (include.alerts.AlertMessage), with E the window end's timeline
second (its ``window_end_at`` less the manifest's epoch_offset and time_shift_seconds):

- ``ready_at``: the send time of the first group (or end marker) whose second is >= E + watermark_seconds: the
  earliest moment any streaming job could know the window is complete. Late samples never count: their
  event time is old.
- ``latency`` = emitted_at - ready_at.
- ``from_last_sample`` = emitted_at - the send time of the window's last sample: the latest of the groups with
  a second in [E - window_seconds, E) and that server's late samples in that range.

Wall-clock times are epoch seconds (``time.time()``): the producer and the streaming job share the machine's
clock, which is what comparing them needs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, NonNegativeFloat, NonNegativeInt, ValidationError

from include.alerts import AlertMessage, parse_utc, utc_text
from include.handoff import problems, read_model
from include.pacing import percentile
from include.paths import write_atomically

HANDOFF = ConfigDict(extra="forbid", strict=True)
# Send times are kept to the microsecond: finer than anything measured against them (emitted_at is in ms).
MICROSECOND = 6


class SendLogError(ValueError):
    """A send log or alerts file that is missing, malformed, or belongs to another produce attempt."""


class LateSent(BaseModel):
    """One sample sent late: its server, its own timeline second (its event time), when it went out, and the
    greatest group second released before it (how far the replay had got)."""

    model_config = HANDOFF

    server_id: str
    second: int
    sent_at: float
    after_second: int

    @property
    def behind(self) -> int:
        """Recorded seconds between the replay's progress when it went out and its own second."""
        return self.after_second - self.second


class EndMarker(BaseModel):
    """Live mode's end-of-replay marker: its timeline second and when it was sent."""

    model_config = HANDOFF

    second: int
    sent_at: float


class SendLog(BaseModel):
    """``<output_dir>/send_log.json``: what the producer sent when. Strict: the file is written by this model."""

    model_config = HANDOFF

    run_id: str
    attempt_id: str  # the manifest's: a log of another attempt is refused where it is used
    late_fraction: NonNegativeFloat
    late_max_seconds: NonNegativeInt
    late_seed: NonNegativeInt
    # [timeline second, sent_at] per group, in send order (so in time order).
    groups: list[tuple[int, float]]
    late: list[LateSent]
    # When the last data record (a group's or a late sample's) was handed to the client; None before any.
    last_sent_at: float | None
    end_marker: EndMarker | None = None

    def with_end_marker(self, second: int, sent_at: float) -> SendLog:
        """This log with the end-of-replay marker (live mode's send_end_markers) recorded."""
        return self.model_copy(update={"end_marker": EndMarker(second=second, sent_at=round(sent_at, MICROSECOND))})

    def beyond_watermark(self, watermark_seconds: int) -> list[LateSent]:
        """Late samples sent more than ``watermark_seconds`` recorded seconds behind the replay's progress: the
        conservative superset of what a streaming job with that watermark may drop (it drops a row only for
        windows ending at or before max event time seen - watermark)."""
        return [s for s in self.late if s.behind > watermark_seconds]

    @property
    def first_sent_at(self) -> float | None:
        return self.groups[0][1] if self.groups else None

    def write(self, path: Path) -> Path:
        write_atomically(path, self.model_dump_json() + "\n")
        return path

    @classmethod
    def read(cls, path: Path | str) -> SendLog:
        return read_model(path, cls, SendLogError, "no send log; did produce_metrics succeed for this run?")


def record_end_marker(path: Path | str, second: int, sent_at: float) -> SendLog:
    """Add the end marker to the send log at ``path`` and write it back (atomically); the updated log."""
    log = SendLog.read(path).with_end_marker(second, sent_at)
    log.write(Path(path))
    return log


def read_alerts(path: Path | str) -> list[AlertMessage]:
    """Every alert of an alerts.jsonl; SendLogError naming the file and line of a malformed one."""
    path = Path(path)
    alerts = []
    try:
        with path.open("r", encoding="utf-8") as fh:
            for line_number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    alerts.append(AlertMessage.parse(line))
                except ValidationError as exc:
                    raise SendLogError(f"{path}, line {line_number}: malformed alert: {problems(exc)}") from None
    except FileNotFoundError:
        raise SendLogError(f"{path}: no alerts file; did the live window step finish?") from None
    except UnicodeDecodeError as exc:
        raise SendLogError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return alerts


@dataclass(frozen=True)
class AlertLatency:
    """One alert's timing (epoch seconds; None where the send log cannot say)."""

    output: str
    server_id: str
    window_start: str
    window_end: str
    window_end_second: int  # E, on the dataset's timeline
    emitted_at: float
    ready_at: float | None  # None: nothing was sent far enough past the window (no end marker?)
    last_sample_at: float | None  # None: no sample of the window's span was sent

    @property
    def latency(self) -> float | None:
        return None if self.ready_at is None else self.emitted_at - self.ready_at

    @property
    def from_last_sample(self) -> float | None:
        return None if self.last_sample_at is None else self.emitted_at - self.last_sample_at


def alert_latencies(alerts: Iterable[AlertMessage], log: SendLog, epoch_offset: int, time_shift_seconds: int,
                    watermark_seconds: int, window_seconds: int) -> list[AlertLatency]:
    """Each alert's ready_at and last-sample time from the send log (see the module docstring), in the
    alerts' order. ``epoch_offset`` and ``time_shift_seconds`` are the manifest's."""
    seconds = [second for second, _ in log.groups]
    sent = [at for _, at in log.groups]
    late_by_server: dict[str, list[LateSent]] = {}
    for s in log.late:
        late_by_server.setdefault(s.server_id, []).append(s)
    to_timeline = epoch_offset + time_shift_seconds
    out = []
    for alert in alerts:
        end = round(parse_utc(alert.window_end_at)) - to_timeline
        ready_at = None
        first = bisect.bisect_left(seconds, end + watermark_seconds)
        if first < len(seconds):
            ready_at = sent[first]
        elif log.end_marker is not None and log.end_marker.second >= end + watermark_seconds:
            ready_at = log.end_marker.sent_at
        # Groups go out in time order, so the window's last group is the last one before its end.
        lo, hi = bisect.bisect_left(seconds, end - window_seconds), bisect.bisect_left(seconds, end)
        candidates = [sent[hi - 1]] if hi > lo else []
        candidates += [s.sent_at for s in late_by_server.get(alert.server_id, ())
                       if end - window_seconds <= s.second < end]
        out.append(AlertLatency(output=alert.output, server_id=alert.server_id, window_start=alert.window_start,
                                window_end=alert.window_end, window_end_second=end,
                                emitted_at=parse_utc(alert.emitted_at), ready_at=ready_at,
                                last_sample_at=max(candidates) if candidates else None))
    return out


class Figures(BaseModel):
    """count, p50, p95 and max (seconds) of one measure; the statistics are None when count is 0."""

    model_config = HANDOFF

    count: NonNegativeInt
    p50: float | None
    p95: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Figures:
        if not values:
            return cls(count=0, p50=None, p95=None, max=None)
        return cls(count=len(values), p50=round(percentile(values, 50), 3), p95=round(percentile(values, 95), 3),
                   max=round(max(values), 3))

    def describe(self) -> str:
        if not self.count:
            return "none"
        return f"p50 {self.p50:.3f} s, p95 {self.p95:.3f} s, max {self.max:.3f} s ({self.count})"


class LatencySummary(BaseModel):
    """validation.json's alert latency of a live run (under contract.LATENCY_KEY); the per-alert points are in
    the report, not here."""

    model_config = HANDOFF

    alerts: NonNegativeInt  # lines of alerts.jsonl
    watermark_seconds: NonNegativeInt
    window_seconds: NonNegativeInt
    latency_seconds: Figures  # emitted_at - ready_at
    from_last_sample_seconds: Figures  # emitted_at - send of the window's last sample
    # Alerts whose ready_at is unknown: nothing sent was far enough past their window.
    unmeasured: NonNegativeInt
    # Alerts emitted while the producer was still sending (before its last data record went out).
    emitted_before_last_send: NonNegativeInt
    first_send_at: str | None  # UTC texts (include.alerts.utc_text)
    last_send_at: str | None

    def describe(self) -> str:
        return (f"{self.alerts} alerts; latency {self.latency_seconds.describe()}; from the window's last sample "
                f"{self.from_last_sample_seconds.describe()}; {self.emitted_before_last_send} emitted before the "
                f"producer's last send" + (f"; {self.unmeasured} unmeasured" if self.unmeasured else ""))


def summarize(latencies: Sequence[AlertLatency], log: SendLog, watermark_seconds: int,
              window_seconds: int) -> LatencySummary:
    last = log.last_sent_at
    return LatencySummary(
        alerts=len(latencies), watermark_seconds=watermark_seconds, window_seconds=window_seconds,
        latency_seconds=Figures.of([a.latency for a in latencies if a.latency is not None]),
        from_last_sample_seconds=Figures.of([a.from_last_sample for a in latencies if a.from_last_sample is not None]),
        unmeasured=sum(1 for a in latencies if a.ready_at is None),
        emitted_before_last_send=sum(1 for a in latencies if last is not None and a.emitted_at < last),
        first_send_at=utc_text(log.first_sent_at) if log.first_sent_at is not None else None,
        last_send_at=utc_text(last) if last is not None else None)


def plot_points(latencies: Sequence[AlertLatency], first_sent_at: float) -> list[tuple[float, float, AlertLatency]]:
    """(ready time since the first send, latency) of every measured alert, in ready order: the report's plot."""
    points = [(a.ready_at - first_sent_at, a.emitted_at - a.ready_at, a) for a in latencies if a.ready_at is not None]
    return sorted(points, key=lambda p: p[0])

