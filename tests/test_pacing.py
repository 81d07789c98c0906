"""Drift-free pacing on a fake monotonic clock: deadlines come from the start, never from the last send,
whether one group a period or the recorded gaps at a speed."""

from __future__ import annotations

import pytest

from include.pacing import LatenessStats, Pacer, requested_pace


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(pacer: Pacer, clock: FakeClock, send_costs: list[float], seconds: list[int] | None = None) -> list[float]:
    """Release each group (at these recorded timeline seconds, if given), then spend its send cost."""
    released = []
    for i, cost in enumerate(send_costs):
        pacer.wait_for(i, seconds[i] - seconds[0] if seconds else 0.0)
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


# A recording with gaps: 5 s steps, a 60 s hole, an 83 s hole, a 142 s hole.
RECORDED = [0, 5, 10, 70, 75, 80, 163, 168, 310]


def test_speed_replays_recorded_gaps_as_gaps_divided_by_speed():
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep, speed=10)  # speed wins over seconds_per_group
    released = run(pacer, clock, [0.1] * len(RECORDED), [s + 1_700_000_000 for s in RECORDED])
    assert released == pytest.approx([100.0 + s / 10 for s in RECORDED])
    gaps = [b - a for a, b in zip(released, released[1:])]
    assert gaps == pytest.approx([0.5, 0.5, 6.0, 0.5, 0.5, 8.3, 0.5, 14.2])
    assert pacer.lateness.max == 0.0 and pacer.elapsed == pytest.approx(31.0)


def test_speed_schedule_is_drift_free_after_a_slow_send():
    clock = FakeClock()
    pacer = Pacer(speed=2, clock=clock, sleep=clock.sleep)
    seconds = [0, 1, 2, 3, 4, 5, 6, 40]
    released = run(pacer, clock, [0.05, 2.0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05], seconds)
    # Group 1 sends for 2 s: groups 2 and 3 (due at +1.0 and +1.5) go out late, one after the other...
    assert released[:2] == [100.0, 100.5]
    assert released[2] == pytest.approx(102.5) and released[3] == pytest.approx(102.55)
    # ...so does what was due meanwhile (+2.0 and +2.5); from then on the groups are on the schedule counted from
    # the start (+3.0, +20.0), not shifted by the slow send.
    assert released[4:] == pytest.approx([102.6, 102.65, 103.0, 120.0])
    assert pacer.lateness.last == 0.0 and pacer.lateness.max == pytest.approx(1.5)
    assert pacer.elapsed == pytest.approx(20.0)  # 40 recorded s at 2x


def test_speed_zero_is_as_fast_as_possible_and_negative_is_refused():
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep, speed=0)
    released = run(pacer, clock, [0.25] * len(RECORDED), RECORDED)
    assert clock.slept == [] and pacer.lateness.samples == []
    assert released == [100.0 + 0.25 * i for i in range(len(RECORDED))]
    assert pacer.elapsed == pytest.approx(0.25 * (len(RECORDED) - 1))
    with pytest.raises(ValueError, match="speed"):
        Pacer(speed=-0.5)


def test_requested_pace_in_words_speed_winning():
    assert requested_pace(None, 1.0) == "1 s per group" and requested_pace(None, 0) == "as fast as possible"
    assert requested_pace(50, 1.0) == "speed 50x recorded time" and requested_pace(0, 1.0) == "as fast as possible"


def test_offsets_of_both_schedules_and_lateness_stats():
    assert Pacer(0.5).offset(4) == 2.0 and Pacer(0.5).offset(4, recorded=100) == 2.0  # per group: gaps ignored
    assert Pacer(0.5, speed=50).offset(4, recorded=100) == 2.0 and Pacer(speed=0).offset(4, recorded=100) == 0.0
    assert Pacer(1.0).elapsed == 0.0  # nothing released yet
    stats = LatenessStats()
    for v in [0.0] * 98 + [0.5, 2.0]:
        stats.add(v)
    assert stats.max == 2.0 and stats.last == 2.0 and stats.percentile(50) == 0.0 and stats.percentile(100) == 2.0
    assert LatenessStats().percentile(99) == 0.0
