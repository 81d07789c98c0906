"""Drift-free pacing on a fake monotonic clock: deadlines come from the start, never from the last send."""

from __future__ import annotations

import pytest

from include.pacing import LatenessStats, Pacer, deadline


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(pacer: Pacer, clock: FakeClock, send_costs: list[float]) -> list[float]:
    released = []
    for i, cost in enumerate(send_costs):
        pacer.wait_for(i)
        released.append(clock.now)
        clock.now += cost
    return released


def test_sends_do_not_accumulate_drift():
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    released = run(pacer, clock, [0.3] * 50)
    assert released == [100.0 + i for i in range(50)]
    assert pacer.lateness.max == 0.0


def test_one_slow_send_delays_only_what_is_due_during_it():
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    released = run(pacer, clock, [0.1, 2.5, 0.1, 0.1, 0.1, 0.1])
    assert released[:2] == [100.0, 101.0]
    assert released[2] == pytest.approx(103.5) and released[3] == pytest.approx(103.6)  # late, sent at once
    assert released[4:] == [104.0, 105.0]  # back on the original schedule, not shifted
    assert pacer.lateness.max == pytest.approx(1.5)


def test_zero_period_never_sleeps_and_negative_is_refused():
    clock = FakeClock()
    pacer = Pacer(0, clock=clock, sleep=clock.sleep)
    run(pacer, clock, [0.5] * 10)
    assert clock.slept == []
    with pytest.raises(ValueError, match="seconds_per_group"):
        Pacer(-1)


def test_deadline_and_lateness_stats():
    assert deadline(10.0, 0.5, 4) == 12.0
    stats = LatenessStats()
    for v in [0.0] * 98 + [0.5, 2.0]:
        stats.add(v)
    assert stats.max == 2.0 and stats.last == 2.0 and stats.percentile(50) == 0.0 and stats.percentile(100) == 2.0
    assert LatenessStats().percentile(99) == 0.0
