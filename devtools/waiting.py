"""The one way the launchers and the tests wait: poll a condition until it holds, or time out saying what for.

    port = wait_until(lambda: find_port(), timeout=30, what="the API server's port")

A condition that raises one of ``ignore``'s exception types counts as "not yet" (e.g. a broker still electing a
leader); any other exception ends the wait at once and propagates (e.g. "the process exited": there is no
point waiting for it to listen). The timeout names what was awaited and the last ignored error, if any.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """``what`` did not come true within ``timeout`` seconds."""

    def __init__(self, what: str, timeout: float, last_error: BaseException | None = None) -> None:
        self.what, self.timeout, self.last_error = what, timeout, last_error
        message = f"timed out after {timeout:g} s waiting for {what}"
        if last_error is not None:
            message += f" (last error: {type(last_error).__name__}: {last_error})"
        super().__init__(message)


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.2, what: str = "a condition",
               ignore: tuple[type[BaseException], ...] = (), clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], object] = time.sleep) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy, and return that.

    It is always called at least once, and once more at the deadline, so a slow ``interval`` never costs the
    last chance. Raises WaitTimeout (a TimeoutError) naming ``what`` and ``timeout`` when it never held."""
    if timeout < 0 or interval <= 0:
        raise ValueError(f"waiting for {what}: timeout must be >= 0 and interval > 0 "
                         f"(got timeout={timeout!r}, interval={interval!r})")
    deadline = clock() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
        except ignore as exc:
            last_error = exc
        else:
            if value:
                return value
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(what, timeout, last_error) from last_error
        sleep(min(interval, remaining))
