"""A Spark standalone cluster (one master, one worker) from the pyspark installation, on 127.0.0.1.

This is how the DAG is tested against a real cluster master URL without Docker: the same
``spark-class`` launcher a Spark distribution's sbin scripts use, started as two processes.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devtools.kafka import free_port, port_open
from devtools.waiting import WaitTimeout, wait_until

log = logging.getLogger(__name__)


class SparkClusterError(RuntimeError):
    """The local standalone cluster did not come up."""


def spark_home() -> Path:
    """pyspark's package folder, which is a complete SPARK_HOME (bin/, jars/, sbin/)."""
    spec = importlib.util.find_spec("pyspark")
    return Path(next(iter(spec.submodule_search_locations)))


def spark_class() -> Path:
    """The venv's spark-class launcher (pyspark ships it in the venv's bin)."""
    return Path(sys.executable).with_name("spark-class")


@dataclass
class LocalSparkCluster:
    home: Path
    worker_cores: int = 1
    worker_memory: str = "2g"
    port: int = field(default_factory=free_port)
    _procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(self.home / "work"),
               "SPARK_LOG_DIR": str(self.home)}
        with (self.home / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen([str(spark_class()), *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        self._procs.append(proc)
        return proc

    def start(self, timeout: float = 90.0) -> LocalSparkCluster:
        master = self._start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                             "--port", str(self.port), "--webui-port", str(free_port()))
        self._wait(lambda: port_open(self.port), master, "master", timeout)
        worker = self._start("worker", "org.apache.spark.deploy.worker.Worker", self.master_url,
                             "--host", "127.0.0.1", "--cores", str(self.worker_cores), "--memory", self.worker_memory,
                             "--webui-port", str(free_port()))
        self._wait(lambda: "Successfully registered with master" in self._log("worker"), worker, "worker", timeout)
        log.info("Spark standalone cluster up at %s (logs in %s)", self.master_url, self.home)
        return self

    def _log(self, name: str) -> str:
        try:
            return (self.home / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _wait(self, ready, proc: subprocess.Popen, name: str, timeout: float) -> None:
        def up() -> bool:
            if proc.poll() is not None:  # it will never become ready
                raise SparkClusterError(f"Spark {name} exited with {proc.returncode}: {self._log(name)[-2000:]}")
            return ready()

        try:
            wait_until(up, timeout, interval=0.3, what=f"the Spark {name} in {self.home} to be ready")
        except WaitTimeout as exc:
            self.stop()
            raise SparkClusterError(f"{exc}: {self._log(name)[-2000:]}") from exc
        except SparkClusterError:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self._procs.clear()
