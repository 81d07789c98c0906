"""Drift-free pacing: every group's deadline is computed from the start on a monotonic clock.

Two schedules: group i is due at ``start + i * period`` (seconds_per_group: the seed's one group a second),
or, at a ``speed``, at ``start + (second_i - first_second) / speed``, so the recorded gaps between groups
are replayed as gaps, shortened ``speed`` times.

The seed slept a fixed second *after* each send, so every send's own duration accumulated as drift. Here
each deadline is computed from the start, so a slow send makes one group late but never the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


def requested_pace(speed: float | None, seconds_per_group: float) -> str:
    """The pace a run asks for, in words: ``speed`` wins over ``seconds_per_group`` when set; 0 is as fast as
    possible in both."""
    if speed is not None:
        return "as fast as possible" if speed == 0 else f"speed {speed:g}x recorded time"
    return "as fast as possible" if seconds_per_group == 0 else f"{seconds_per_group:g} s per group"


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
    """Releases group after group on schedule.

    Without ``speed``, group i is due ``i * period`` seconds after the first; ``period == 0`` means as fast
    as possible. With ``speed`` (which then wins over ``period``), a group recorded ``recorded`` seconds
    after the first is due ``recorded / speed`` seconds after it; ``speed == 0`` means as fast as possible.
    """

    def __init__(self, period: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, speed: float | None = None) -> None:
        if period < 0:
            raise ValueError(f"seconds_per_group must be >= 0, got {period}")
        if speed is not None and speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.period = period
        self.speed = speed
        self._clock = clock
        self._sleep = sleep
        self.start: float | None = None
        self.released: float | None = None  # when the latest group was released
        self.lateness = LatenessStats()

    @property
    def unpaced(self) -> bool:
        """As fast as possible: nothing is ever waited for."""
        return self.speed == 0 if self.speed is not None else self.period == 0

    def offset(self, index: int, recorded: float = 0.0) -> float:
        """Seconds after the start that group ``index``, recorded ``recorded`` seconds after the first
        group, is due."""
        if self.speed is None:
            return index * self.period
        return recorded / self.speed if self.speed else 0.0

    def wait_for(self, index: int, recorded: float = 0.0) -> float:
        """Block until group ``index`` (recorded ``recorded`` seconds after the first group) is due; return
        how late it is released (>= 0)."""
        now = self._clock()
        if self.start is None:
            self.start = now
        if self.unpaced:
            self.released = now
            return 0.0
        due = self.start + self.offset(index, recorded)
        if now < due:
            self._sleep(due - now)
            now = self._clock()
        self.released = now
        late = max(0.0, now - due)
        self.lateness.add(late)
        return late

    @property
    def elapsed(self) -> float:
        """Seconds from the first group's release to the latest one's: the replay's achieved span."""
        if self.start is None or self.released is None:
            return 0.0
        return self.released - self.start
