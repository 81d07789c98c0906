"""Drift-free pacing: group i is due at start + i * period on a monotonic clock.

The seed slept a fixed second *after* each send, so every send's own duration accumulated as drift. Here
each deadline is computed from the start, so a slow send makes one group late but never the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


def deadline(start: float, period: float, index: int) -> float:
    """When group ``index`` (0-based) is due."""
    return start + index * period


@dataclass
class LatenessStats:
    """Lateness (seconds after the deadline that a group was released) over a whole replay."""

    samples: list[float] = field(default_factory=list)

    def add(self, lateness: float) -> None:
        self.samples.append(lateness)

    @property
    def max(self) -> float:
        return max(self.samples, default=0.0)

    def percentile(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        rank = min(len(ordered) - 1, max(0, int(round(q / 100.0 * (len(ordered) - 1)))))
        return ordered[rank]

    @property
    def last(self) -> float:
        return self.samples[-1] if self.samples else 0.0


class Pacer:
    """Releases group after group on schedule. ``period == 0`` means as fast as possible."""

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if period < 0:
            raise ValueError(f"seconds_per_group must be >= 0, got {period}")
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self.start: float | None = None
        self.lateness = LatenessStats()

    def wait_for(self, index: int) -> float:
        """Block until group ``index`` is due; return how late it is released (>= 0)."""
        now = self._clock()
        if self.start is None:
            self.start = now
        if self.period == 0:
            return 0.0
        due = deadline(self.start, self.period, index)
        if now < due:
            self._sleep(due - now)
            now = self._clock()
        late = max(0.0, now - due)
        self.lateness.add(late)
        return late
