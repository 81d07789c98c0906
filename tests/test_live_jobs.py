"""include.live's handling of the streaming job's processes, with real processes standing in for the job (a
Python child that reports in job.json as the job's driver does): a resume never takes an earlier start's state
for the new one's, and never leaves two jobs on one session's checkpoints. The real job's kill-and-resume is
tests/test_live.py's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from include import live
from include.live import JobState, LiveFolder, LiveSession

# The stand-in job: after DELAY seconds of "start-up" it reports reading as the job's driver does (its process
# group's id as pid, the start from the environment), then keeps its heartbeat until it is killed.
FAKE_JOB = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from include.live import JobState, now_text
    path, session_id, delay = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    start = int(os.environ["METRICS_REPLAY_LIVE_START"])
    time.sleep(delay)
    state = JobState(session_id=session_id, start=start, pid=os.getpgid(0), status="reading",
                     updated_at=now_text(), reading_at=now_text())
    while True:
        state.updated_at = now_text()
        state.write(path)
        time.sleep(0.2)
""")


@pytest.fixture
def folder(tmp_path: Path) -> LiveFolder:
    folder = LiveFolder(tmp_path)
    folder.fresh()
    return folder


@pytest.fixture
def session(folder: LiveFolder) -> LiveSession:
    session = LiveSession(session_id=live.new_session_id(), run_id="manual__test", bootstrap_servers="127.0.0.1:1",
                          replay_started="2026-01-01T00:00:00+00:00", dated=False, epoch_offset=0,
                          time_shift_seconds=0, first_second=0, last_second=60, end_marker_second=110,
                          has_net_disk=False, watermark_seconds=10, start_offsets={})
    session.write(folder.session)
    return session


class Relay(live.LogRelay):
    def __init__(self, folder: LiveFolder) -> None:
        super().__init__(folder, lambda line: None)


started: list[int] = []


@pytest.fixture(autouse=True)
def stop_started() -> Iterator[None]:
    yield
    while started:
        live.stop_job(started.pop())


def fake_job(folder: LiveFolder, session: LiveSession, delay: float) -> list[str]:
    return [sys.executable, "-c", FAKE_JOB, str(folder.job), session.session_id, str(delay)]


def launch(folder: LiveFolder, session: LiveSession, delay: float) -> int:
    pid = live.launch(folder, session, fake_job(folder, session, delay), {})
    started.append(pid)
    return pid


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_new_start_waits_for_its_own_report_not_an_earlier_dead_starts(folder, session):
    """job.json still holds the killed first start's "reading": the second start is reading only once it
    says so itself."""
    folder.spark_log(1).write_text("")
    JobState(session_id=session.session_id, start=1, pid=dead_pid(), status="reading", updated_at=live.now_text(),
             reading_at=live.now_text()).write(folder.job)
    pid = launch(folder, session, delay=1.0)
    assert JobState.read(folder.job).status == "starting"  # the launch replaced the dead start's state
    state = live.wait_reading(folder, session, pid, Relay(folder), timeout=60)
    assert (state.pid, state.start, state.status) == (pid, 2, "reading")


def test_a_retry_while_the_job_is_still_starting_waits_for_it_and_starts_no_second_job(folder, session):
    pid = launch(folder, session, delay=1.5)
    assert live.job_alive(folder, session)
    live.resume(folder, session, fake_job(folder, session, 0.0), {}, Relay(folder))
    state = JobState.read(folder.job)
    assert (state.pid, state.start, state.status) == (pid, 1, "reading")
    assert folder.starts() == 1


def test_a_dead_job_is_started_again_and_its_new_start_awaited(folder, session):
    folder.spark_log(1).write_text("")
    JobState(session_id=session.session_id, start=1, pid=dead_pid(), status="reading", updated_at=live.now_text(),
             reading_at=live.now_text()).write(folder.job)
    assert not live.job_alive(folder, session)
    live.resume(folder, session, fake_job(folder, session, 0.5), {}, Relay(folder))
    state = JobState.read(folder.job)
    started.append(state.pid)
    assert (state.start, state.status) == (2, "reading") and live.process_alive(state.pid)
    assert folder.starts() == 2


def test_a_job_whose_heartbeat_stopped_is_stopped_before_another_starts(folder, session):
    """Alive but silent for longer than STALE_AFTER_S: taken for dead, and killed, so that the new start is
    the only job on the session's checkpoints."""
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    started.append(silent.pid)
    long_ago = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - live.STALE_AFTER_S - 5))
    folder.spark_log(1).write_text("")
    JobState(session_id=session.session_id, start=1, pid=silent.pid, status="reading", updated_at=long_ago,
             reading_at=long_ago).write(folder.job)
    assert not live.job_alive(folder, session)
    live.resume(folder, session, fake_job(folder, session, 0.2), {}, Relay(folder))
    silent.wait(timeout=10)  # killed (SIGKILL to its group)
    assert silent.returncode == -9
    state = JobState.read(folder.job)
    started.append(state.pid)
    assert state.pid != silent.pid and (state.start, state.status) == (2, "reading")


def test_a_finished_job_is_not_started_again(folder, session):
    JobState(session_id=session.session_id, start=1, pid=dead_pid(), status="finished",
             updated_at=live.now_text()).write(folder.job)
    live.resume(folder, session, fake_job(folder, session, 0.0), {}, Relay(folder))
    assert folder.starts() == 0 and JobState.read(folder.job).status == "finished"
