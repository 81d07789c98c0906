"""A local Spark Connect server (a warm Spark) on 127.0.0.1, started from the pyspark installation.

`make up` starts one and points spark_default at it; the tests and the bench start their own on a free port.
The command line is include.spark_connect.server_command (compose's service runs the same); the server's log
and pid file live in ``home`` (git-ignored ``.spark-connect/`` by default).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devtools.kafka import live_pid, port_open, stop_process_group
from devtools.spark_cluster import spark_home
from devtools.waiting import WaitTimeout, wait_until
from include.paths import PROJECT_ROOT
from include.spark_connect import DEFAULT_PORT, connection, server_command

log = logging.getLogger(__name__)

DEFAULT_HOME = PROJECT_ROOT / ".spark-connect"


class SparkConnectStartError(RuntimeError):
    """The local Spark Connect server did not come up."""


@dataclass
class LocalSparkConnect:
    home: Path = DEFAULT_HOME
    port: int = DEFAULT_PORT

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    def connection(self) -> dict:
        """A Spark Connect connection to this server (the Spark provider's connection type)."""
        return connection("127.0.0.1", self.port)

    def pid(self) -> int | None:
        return live_pid(self.pid_file)

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.port)

    def start(self, timeout: float = 120.0, warm: bool = False) -> LocalSparkConnect:
        """Start the server in the background (a process group of its own) and wait until it takes sessions;
        ``warm``: then run a small job along the replay job's path, so the first replay is not the server's
        first job."""
        if self.running():
            log.info("Spark Connect server already running at %s (pid %s)", self.url, self.pid())
            return self
        if port_open(self.port):
            raise SparkConnectStartError(f"port {self.port} on 127.0.0.1 is taken by another process")
        self.home.mkdir(parents=True, exist_ok=True)
        start = self.log_file.stat().st_size if self.log_file.exists() else 0
        # spark-submit of the venv's pyspark, which is a whole SPARK_HOME, whatever PATH the caller has
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(server_command("127.0.0.1", self.port), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, cwd=str(PROJECT_ROOT), start_new_session=True)
        self.pid_file.write_text(f"{proc.pid}\n")

        def ready() -> bool:
            if proc.poll() is not None:  # a dead JVM never opens its port
                raise SparkConnectStartError(f"Spark Connect server exited with {proc.returncode}: "
                                             f"{self._log_tail(start)}")
            return port_open(self.port)  # gRPC listens once the server's Spark session is up

        try:
            wait_until(ready, timeout, interval=0.3, what=f"the Spark Connect server to listen on {self.url}")
        except (WaitTimeout, SparkConnectStartError) as exc:
            self.stop()
            raise SparkConnectStartError(f"{exc}; see {self.log_file}") from exc
        log.info("Spark Connect server up at %s (pid %d, log %s)", self.url, proc.pid, self.log_file)
        if warm:
            self.warm_up()
        return self

    def warm_up(self) -> float:
        """Run a small job along the replay job's path (include.spark_job.warm_up); return its seconds."""
        import time
        import warnings

        from include.spark_job import warm_up

        started = time.monotonic()
        with warnings.catch_warnings():  # pyspark's note on pandas 3, which `make up` need not print
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
            warm_up(self.url, self.home / "warm-up")
        took = time.monotonic() - started
        log.info("Spark Connect server at %s warmed up in %.1f s", self.url, took)
        return took

    def _log_text(self, start: int) -> str:
        try:
            with self.log_file.open("rb") as fh:
                fh.seek(start)
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _log_tail(self, start: int) -> str:
        return self._log_text(start)[-2000:]

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        stop_process_group(pid, lambda: self.pid() is None, f"the Spark Connect server at {self.url}", timeout)
        self.pid_file.unlink(missing_ok=True)
        log.info("Spark Connect server at %s stopped", self.url)

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"stopped (home {self.home})"
        return f"running at {self.url}, pid {pid}, port {'open' if port_open(self.port) else 'closed'}"
