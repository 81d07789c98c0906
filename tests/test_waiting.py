"""wait_until: returns the condition's value, polls at its interval, and times out saying what it waited for."""

from __future__ import annotations

import pytest

from devtools.waiting import WaitTimeout, wait_until


class FakeClock:
    """Time that moves only when the waiter sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now, self.sleeps = 100.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_truthy_value_without_sleeping_when_it_already_holds():
    clock = FakeClock()
    assert wait_until(lambda: {"port": 9092}, timeout=5, clock=clock, sleep=clock.sleep) == {"port": 9092}
    assert clock.sleeps == []


def test_polls_at_the_interval_until_the_condition_holds():
    clock = FakeClock()
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), timeout=10, interval=0.5, clock=clock, sleep=clock.sleep) == "ready"
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_times_out_naming_what_and_the_timeout_after_a_last_try_at_the_deadline():
    clock = FakeClock()
    calls = []
    with pytest.raises(WaitTimeout) as err:
        wait_until(lambda: calls.append(clock.now), timeout=1, interval=0.4, what="the broker on 127.0.0.1:1",
                   clock=clock, sleep=clock.sleep)
    assert str(err.value) == "timed out after 1 s waiting for the broker on 127.0.0.1:1"
    assert isinstance(err.value, TimeoutError) and err.value.timeout == 1 and err.value.last_error is None
    assert calls == pytest.approx([100.0, 100.4, 100.8, 101.0])  # the last sleep is cut to the deadline


def test_ignored_errors_mean_not_yet_and_the_last_one_is_named_on_timeout():
    clock = FakeClock()
    errors = iter([ConnectionRefusedError("refused"), KeyError("topic-cpu"), LookupError("no leader yet")])

    def condition():
        raise next(errors)

    with pytest.raises(WaitTimeout) as err:
        wait_until(condition, timeout=0.4, interval=0.2, what="a leader", ignore=(OSError, LookupError),
                   clock=clock, sleep=clock.sleep)
    assert "waiting for a leader (last error: LookupError: no leader yet)" in str(err.value)
    assert isinstance(err.value.__cause__, LookupError)

    attempts = iter([KeyError("not yet"), None, 7])

    def flaky():
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert wait_until(flaky, timeout=5, interval=0.1, ignore=(KeyError,), clock=clock, sleep=clock.sleep) == 7


def test_other_errors_end_the_wait_at_once():
    clock = FakeClock()

    def exited():
        raise RuntimeError("broker exited with 1")

    with pytest.raises(RuntimeError, match="exited with 1"):
        wait_until(exited, timeout=60, ignore=(OSError,), clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_zero_timeout_still_tries_once_and_bad_arguments_are_refused():
    clock = FakeClock()
    assert wait_until(lambda: True, timeout=0, clock=clock, sleep=clock.sleep) is True
    with pytest.raises(WaitTimeout):
        wait_until(lambda: False, timeout=0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
    for timeout, interval in ((-1, 1), (1, 0)):
        with pytest.raises(ValueError, match="waiting for x"):
            wait_until(lambda: True, timeout=timeout, interval=interval, what="x")


def test_real_clock_waits_for_a_real_condition():
    import threading
    import time

    ready = threading.Event()
    threading.Timer(0.2, ready.set).start()
    started = time.monotonic()
    assert wait_until(ready.is_set, timeout=5, interval=0.02, what="the timer") is True
    assert 0.15 < time.monotonic() - started < 2
