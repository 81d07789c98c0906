"""Live mode: the streaming job's session in a run's output folder, how it is started and awaited, and its record.

A live run's window step is three tasks, because the streaming job must be reading before the first record
is sent, and the tasks of one run may run one after the other (``dag.test()``, ``make run``):

1. ``start_stream`` opens a session: a new session id (the producer's attempt id), the topics' end offsets
   (where the job starts, so older data never leaks in), the event-time constants fixed now (so the job can
   turn event times back into recorded time before the producer has started) and the dataset's last second
   (so the end-of-replay marker's time is known). It writes ``.live/session.json``, launches the Structured
   Streaming job (include/spark_stream.py) through spark-submit as a process of its own, and returns once the
   job reports that it is reading.
2. ``produce_metrics_live`` sends the dataset as in batch mode under the session's attempt id, then the
   end-of-replay markers (include.producer.send_end_markers), and keeps ``.live/producer.json`` current.
3. ``window_metrics_live`` follows the job (its log goes to the task log) until it has written the outputs.
   If the job died (its driver killed, the machine restarted), the task fails; its retry starts the job again
   from the session's Spark checkpoints, so it resumes where Spark's last committed micro-batch ended and
   ends with the same output. The retry unit is the streaming job; a producer is never retried within a
   session (clear the run: a new session starts from the topics' new end).

Files under ``<output_dir>/.live/`` (LIVE_DIR): session.json, job.json (the job's heartbeat and state),
producer.json, spark-<n>.log (one per start), and while the job runs checkpoint/, staged/ and progress/.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, NonNegativeInt

from include.contract import LIVE_DIR, MANIFEST_FILE, STREAM_FILE
from include.handoff import read_model
from include.paths import PROJECT_ROOT, write_atomically

log = logging.getLogger("metrics_replay.live")

SPARK_STREAM_JOB = PROJECT_ROOT / "include" / "spark_stream.py"
# The job writes job.json at least this often; a driver silent for longer is taken for dead.
HEARTBEAT_S = 1.0
STALE_AFTER_S = 45.0
# The producer writes producer.json at least this often while it sends.
PRODUCER_HEARTBEAT_S = 5.0
# Spark's start-up on a busy 2-core machine can take a minute; this bounds start_stream's wait.
READING_TIMEOUT_S = 300.0
# How long the job waits for the producer to start, and for a silent producer, before it gives up.
PRODUCER_START_TIMEOUT_S = 900.0
PRODUCER_STALE_AFTER_S = 60.0


class StreamError(RuntimeError):
    """The streaming job failed, or could not be started or awaited."""


def now_text() -> str:
    from include.alerts import utc_text

    return utc_text(datetime.now(timezone.utc))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, self.model_dump_json(indent=2) + "\n")
        return path


class LiveSession(_Model):
    """``.live/session.json``: what start_stream fixed for the streaming job and the producer."""

    session_id: str
    run_id: str
    bootstrap_servers: str
    # The moment the replay started (aware ISO text): the producer dates a time-of-day dataset and applies
    # time_shift from it, as it would from its own start in batch mode.
    replay_started: str
    dated: bool
    epoch_offset: int
    time_shift_seconds: int
    first_second: int
    last_second: int
    # Timeline second of the end-of-replay markers: past the last window's end plus the watermark.
    end_marker_second: int
    has_net_disk: bool
    watermark_seconds: NonNegativeInt
    # topic -> partition (str) -> the end offset when the session opened (where the job starts).
    start_offsets: dict[str, dict[str, NonNegativeInt]]

    @property
    def shift_seconds(self) -> int:
        """Event epoch second - timeline second."""
        return self.epoch_offset + self.time_shift_seconds

    @classmethod
    def read(cls, path: Path | str) -> LiveSession:
        return read_model(path, cls, StreamError, "no live session; did start_stream succeed for this run?")


class JobState(_Model):
    """``.live/job.json``: the streaming job's heartbeat and state, written by the job's driver."""

    session_id: str
    start: NonNegativeInt  # 1 for the first start of the session, 2 after a resume, ...
    pid: int  # spark-submit's process (the leader of the job's process group)
    status: Literal["starting", "reading", "finished", "failed"]
    updated_at: str
    reading_at: str | None = None
    error: str | None = None
    batches: dict[str, NonNegativeInt] = {}
    watermark: dict[str, str] = {}

    @classmethod
    def read(cls, path: Path | str) -> JobState:
        return read_model(path, cls, StreamError, "the streaming job has not reported yet")


class ProducerState(_Model):
    """``.live/producer.json``: the live producer's state, which the job watches (a failed or vanished
    producer ends the job rather than leave it waiting)."""

    session_id: str
    status: Literal["sending", "done", "failed"]
    updated_at: str
    error: str | None = None

    @classmethod
    def read(cls, path: Path | str) -> ProducerState:
        return read_model(path, cls, StreamError, "the producer has not started")


class StreamRecord(_Model):
    """``<output_dir>/stream.json``: what the streaming job of a live run did. Written by the job when it ends."""

    session_id: str
    watermark_seconds: NonNegativeInt
    # UTC ISO texts (include.alerts.utc_text): job start, first moment it was reading, end.
    started_at: str
    reading_at: str
    finished_at: str
    # Micro-batches run, per output name (cpu_mem, net_disk).
    batches: dict[str, NonNegativeInt]
    # Spark's numRowsDroppedByWatermark, summed over the progress events of each output's query.
    dropped_by_watermark: dict[str, NonNegativeInt]
    # Records of this run read per topic (end markers not counted), summed over the progress events.
    records_read: dict[str, NonNegativeInt]
    # Times the job was started for this session (1 unless a killed job was resumed from its checkpoint).
    starts: NonNegativeInt
    # Alerts published (one per alerting row of each output).
    alerts: NonNegativeInt

    @classmethod
    def read(cls, path: Path | str) -> StreamRecord:
        return read_model(path, cls, StreamError, "no stream record; did the live window step finish?")


class LiveFolder:
    """The paths of one run's live working folder."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = Path(output_dir)
        self.root = self.output_dir / LIVE_DIR
        self.session = self.root / "session.json"
        self.job = self.root / "job.json"
        self.producer = self.root / "producer.json"
        self.checkpoints = self.root / "checkpoint"
        self.staged = self.root / "staged"
        self.progress = self.root / "progress"

    def spark_log(self, start: int) -> Path:
        return self.root / f"spark-{start}.log"

    def starts(self) -> int:
        """How many times the job has been launched in this session (its spark-<n>.log files)."""
        return len(list(self.root.glob("spark-*.log")))

    def fresh(self) -> None:
        """A new session: nothing of an earlier one (working files, outputs it wrote) is left to be mistaken
        for this one's."""
        shutil.rmtree(self.root, ignore_errors=True)
        from include.contract import ALERTS_FILE, CPU_MEM_FILE, NET_DISK_FILE

        for name in (ALERTS_FILE, STREAM_FILE, MANIFEST_FILE, CPU_MEM_FILE, NET_DISK_FILE):
            (self.output_dir / name).unlink(missing_ok=True)
        self.root.mkdir(parents=True)

    def clean_working_files(self) -> None:
        """After a finished job: the checkpoints and staged windows are no longer needed."""
        for folder in (self.checkpoints, self.staged, self.progress):
            shutil.rmtree(folder, ignore_errors=True)


def new_session_id() -> str:
    return f"live-{uuid.uuid4().hex}"


def end_marker_second(last_second: int, window_seconds: int, slide_seconds: int, watermark_seconds: int) -> int:
    """The markers' timeline second: with it read, the watermark (latest event time less watermark_seconds)
    is past the end of every window holding the last second (at most last_second + window_seconds)."""
    return last_second + window_seconds + slide_seconds + watermark_seconds


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped: our own child) counts as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def submit_command(spark_submit: str, master: str, conf: dict[str, str], jars: str, name: str,
                   application: Path, args: list[str]) -> list[str]:
    """spark-submit's command line for the streaming job (client mode: the driver runs here, beside the
    output folder it writes). Nothing secret goes on it: security settings travel in the environment."""
    command = [spark_submit, "--master", master]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return command + ["--jars", jars, "--name", name, str(application), *args]


def launch(folder: LiveFolder, session: LiveSession, command: list[str], env: dict[str, str]) -> int:
    """Start the job as a process group of its own (it outlives the task that starts it; the task that
    follows it may be another process) with its output in .live/spark-<n>.log; return its pid.

    The new start is in job.json ("starting", its pid) before this returns, so a retry of the task that runs
    while the job's JVM is still coming up finds it alive rather than start a second job on the same
    checkpoints (Spark fails both then: CONCURRENT_STREAM_LOG_UPDATE)."""
    start = folder.starts() + 1
    log_path = folder.spark_log(start)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **env, "METRICS_REPLAY_LIVE_START": str(start)},
                                start_new_session=True, cwd=str(PROJECT_ROOT))
    JobState(session_id=session.session_id, start=start, pid=proc.pid, status="starting",
             updated_at=now_text()).write(folder.job)
    log.info("Streaming job started (start %d of this session, pid %d); its log: %s", start, proc.pid, log_path)
    return proc.pid


def resume(folder: LiveFolder, session: LiveSession, command: list[str], env: dict[str, str],
           relay: LogRelay) -> None:
    """Make sure one job of ``session`` runs (or has finished): a job still starting is waited for until it
    reads; a dead one, or one whose heartbeat stopped, is stopped and started again from its checkpoints
    (``command``). StreamError when the new start fails."""
    state = _state(folder, session)
    if state is not None and (state.status == "finished" or job_alive(folder, session)):
        if state.status == "starting":
            wait_reading(folder, session, state.pid, relay)
        return
    if state is not None:
        stop_job(state.pid)  # silent but maybe not dead: never two jobs on one checkpoint
    log.info("The streaming job of session %s is not running: starting it again from its checkpoints",
             session.session_id)
    relay.relay()  # the dead start's log first
    pid = launch(folder, session, command, env)
    try:
        wait_reading(folder, session, pid, relay)
    except StreamError as exc:
        raise StreamError(f"cannot resume the streaming job: {exc}") from None


def stop_job(pid: int) -> None:
    """End a job's whole process group (spark-submit, the JVM, its Python workers)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class LogRelay:
    """Copies new lines of the job's log files to a logger, so the task log shows the job as it runs."""

    def __init__(self, folder: LiveFolder, emit: Callable[[str], None]) -> None:
        self.folder = folder
        self.emit = emit
        self.positions: dict[Path, int] = {}

    def relay(self) -> None:
        for path in sorted(self.folder.root.glob("spark-*.log")):
            pos = self.positions.get(path, 0)
            try:
                with open(path, "rb") as fh:
                    fh.seek(pos)
                    chunk = fh.read()
            except OSError:
                continue
            complete = chunk.rfind(b"\n") + 1
            for line in chunk[:complete].decode("utf-8", "replace").splitlines():
                self.emit(f"[{path.stem}] {line}")
            self.positions[path] = pos + complete


def wait_reading(folder: LiveFolder, session: LiveSession, pid: int, relay: LogRelay,
                 timeout: float = READING_TIMEOUT_S) -> JobState:
    """Until the job (pid) reports that it is reading; StreamError if it fails, dies or takes too long. A state
    in job.json of another start (an earlier, dead one) is not this job's."""
    deadline = time.monotonic() + timeout
    while True:
        relay.relay()
        state = _state(folder, session)
        if state is not None and state.pid != pid:
            state = None
        if state is not None and state.status in ("reading", "finished"):
            return state
        if state is not None and state.status == "failed":
            raise StreamError(f"the streaming job failed while starting: {state.error}")
        if not process_alive(pid):
            relay.relay()
            raise StreamError(f"the streaming job (pid {pid}) ended before it was reading; see its log "
                              f"{folder.spark_log(folder.starts())}")
        if time.monotonic() > deadline:
            stop_job(pid)
            raise StreamError(f"the streaming job was not reading after {timeout:g} s; stopped it")
        time.sleep(0.5)


def follow(folder: LiveFolder, session: LiveSession, relay: LogRelay) -> JobState:
    """Until the job of ``session`` has finished (its state); StreamError when it failed or died."""
    while True:
        relay.relay()
        state = _state(folder, session)
        if state is None:
            raise StreamError(f"no streaming job has reported for session {session.session_id}")
        if state.status == "finished":
            return state
        if state.status == "failed":
            raise StreamError(f"the streaming job failed: {state.error}")
        if not process_alive(state.pid) or _age(state.updated_at) > STALE_AFTER_S:
            relay.relay()
            raise StreamError(f"the streaming job (pid {state.pid}, start {state.start}) died without finishing "
                              f"(last heartbeat {state.updated_at}); a retry resumes it from its checkpoints")
        time.sleep(0.5)


def _state(folder: LiveFolder, session: LiveSession) -> JobState | None:
    if not folder.job.exists():
        return None
    state = JobState.read(folder.job)
    return state if state.session_id == session.session_id else None


def _age(text: str) -> float:
    from include.alerts import parse_utc

    return time.time() - parse_utc(text)


def job_alive(folder: LiveFolder, session: LiveSession) -> bool:
    """Whether the session's job runs: its process lives and, once past its start-up (which wait_reading
    bounds), it keeps its heartbeat."""
    state = _state(folder, session)
    if state is None or state.status not in ("starting", "reading") or not process_alive(state.pid):
        return False
    return state.status == "starting" or _age(state.updated_at) <= STALE_AFTER_S


def python_env() -> dict[str, str]:
    """The job's Python: this interpreter's (the venv's), for the driver and the workers."""
    return {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
