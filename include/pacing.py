"""Drift-free pacing: every group's deadline is computed from the start on a monotonic clock.

Two schedules: group i is due at ``start + i * period`` (seconds_per_group: the seed's one group a second),
or, at a ``speed``, at ``start + (second_i - first_second) / speed``, so the recorded gaps between groups
are replayed as gaps, shortened ``speed`` times.

The seed slept a fixed second *after* each send, so every send's own duration accumulated as drift. Here
each deadline is computed from the start, so a slow send makes one group late but never the rest.

Late data (``late_schedule``): a seeded share of the samples is held back and sent after a later group, out of
order, while every group keeps its deadline.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar


def requested_pace(speed: float | None, seconds_per_group: float) -> str:
    """The pace a run asks for, in words: ``speed`` wins over ``seconds_per_group`` when set; 0 is as fast as
    possible in both."""
    if speed is not None:
        return "as fast as possible" if speed == 0 else f"speed {speed:g}x recorded time"
    return "as fast as possible" if seconds_per_group == 0 else f"{seconds_per_group:g} s per group"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``: the nearest rank, no interpolation (a value that
    occurred); ValueError when there are none."""
    if not values:
        raise ValueError("no values to take a percentile of")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, int(round(q / 100.0 * (len(ordered) - 1)))))
    return ordered[rank]


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
        return percentile(self.samples, q) if self.samples else 0.0

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


# --- late and out-of-order samples ---------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Held(Generic[T]):
    """A sample held back: its own group's timeline second (its event time is kept) and the second it waits
    for (``second`` + its delay): it is sent right after the last group at or before ``due``."""

    item: T
    second: int
    due: int


@dataclass(frozen=True)
class Release(Generic[T]):
    """What goes out when group ``index`` (timeline ``second``) is due: its samples that were not held back,
    in their order, then the held samples whose wait ends here (``late``, in the order they were held)."""

    index: int
    second: int
    on_time: Sequence[T]
    late: list[Held[T]]


def late_schedule(groups: Iterable[tuple[int, Sequence[T]]], total: int, fraction: float, max_seconds: int,
                  seed: int) -> Iterator[Release[T]]:
    """The send order of a replay with late data, group by group (streamed: one group of look-ahead).

    ``groups`` are (timeline second, samples) in time order, ``total`` samples in all. Exactly
    round(``fraction`` x ``total``) samples are held back, chosen by selection sampling (each subset of
    that size equally likely); each waits a delay drawn uniformly from 1..``max_seconds`` recorded seconds
    and is sent right after the last group whose second is <= its own second + delay (after the last group
    when that passes the end). Both draws come from ``random.Random(seed)`` in sample order, so the schedule
    depends only on the data and the seed, never on timing. With nothing to hold back, each group's samples
    are passed through untouched (no per-sample work)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"late_fraction must be between 0 and 1, got {fraction}")
    want = round(fraction * total)
    if want and max_seconds < 1:
        raise ValueError(f"late_max_seconds must be at least 1 to hold samples back, got {max_seconds}")
    rng = random.Random(seed)
    seen = chosen = 0
    waiting: list[tuple[int, int, Held[T]]] = []  # heap of (due, hold order, held)
    held_count = 0
    ahead = iter(groups)
    current = next(ahead, None)
    index = 0
    while current is not None:
        second, samples = current
        following = next(ahead, None)
        if want == chosen:  # nothing (more) to hold back: the group as it is
            on_time: Sequence[T] = samples
            seen += len(samples)
        else:
            kept: list[T] = []
            for item in samples:
                left = total - seen
                if left <= 0:
                    raise ValueError(f"the groups hold more than the {total} samples announced")
                seen += 1
                # Selection sampling (Knuth's algorithm S): take this one with probability needed / left.
                if rng.random() * left < want - chosen:
                    chosen += 1
                    due = second + rng.randint(1, max_seconds)
                    heapq.heappush(waiting, (due, held_count, Held(item, second, due)))
                    held_count += 1
                else:
                    kept.append(item)
            on_time = kept
        late: list[tuple[int, Held[T]]] = []
        # Due before the next group's second: this is the last group at or before their due second.
        while waiting and (following is None or waiting[0][0] < following[0]):
            due, order, held = heapq.heappop(waiting)
            late.append((order, held))
        late.sort(key=lambda pair: pair[0])
        yield Release(index, second, on_time, [held for _, held in late])
        index += 1
        current = following
