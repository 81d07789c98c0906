"""A real Apache Kafka 4.3.1 broker in KRaft mode (one combined broker+controller), started locally.

The jars come from `make jars` (mvn, include/infra/kafka-pom.xml). The broker listens on 127.0.0.1
only; its data, config, log and pid file live in one git-ignored folder.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from include.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

KAFKA_JARS = PROJECT_ROOT / ".cache" / "jars" / "kafka"
SPARK_KAFKA_JARS = PROJECT_ROOT / ".cache" / "jars" / "spark-kafka"
DEFAULT_HOME = PROJECT_ROOT / ".kafka" / "default"
DEFAULT_PORT = 9092
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


class BrokerStartError(RuntimeError):
    """The local broker did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_cluster_id() -> str:
    """A KRaft cluster id (URL-safe base64 of 16 bytes) that does not start with '-' or '_': the storage
    tool would read a leading '-' as an option (a 1-in-32 chance per id)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if cid[0].isalnum():
            return cid


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def server_properties(node_id: int, port: int, controller_port: int, data_dir: Path, voters: str,
                      extra: dict[str, str] | None = None) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
    }
    props.update(extra or {})
    return "".join(f"{k}={v}\n" for k, v in props.items())


@dataclass
class LocalBroker:
    home: Path = DEFAULT_HOME
    port: int = DEFAULT_PORT
    controller_port: int | None = None
    node_id: int = 1
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.port)

    def _java(self, main: str, *args: str, **popen) -> list[str]:
        if not (KAFKA_JARS / ".done").exists():
            raise BrokerStartError(f"Kafka jars missing in {KAFKA_JARS}; run `make jars`")
        return ["java", f"-Xmx{self.heap}", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                f"-Dkafka.logs.dir={self.home}", "-cp", f"{KAFKA_JARS}/*", main, *args]

    def configure(self) -> Path:
        """Write server.properties and format the storage once (KRaft needs a cluster id)."""
        self.home.mkdir(parents=True, exist_ok=True)
        data = self.home / "data"
        props = self.home / "server.properties"
        if self.controller_port is None:
            # The KRaft quorum remembers its voters; keep the controller port of an existing set-up.
            self.controller_port = _existing_controller_port(props) or free_port()
        voters = f"{self.node_id}@127.0.0.1:{self.controller_port}"
        props.write_text(server_properties(self.node_id, self.port, self.controller_port, data, voters))
        if not (data / "meta.properties").exists():
            cluster_id = new_cluster_id()
            subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)),
                           check=True, capture_output=True, timeout=120)
        return props

    def start(self, timeout: float = 90.0) -> LocalBroker:
        if self.running():
            log.info("Kafka broker already running at %s (pid %s)", self.bootstrap, self.pid())
            return self
        if port_open(self.port):
            raise BrokerStartError(f"port {self.port} on 127.0.0.1 is taken by another process")
        props = self.configure()
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(self._java("kafka.Kafka", str(props)), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerStartError(f"Kafka broker exited with {proc.returncode}; see {self.log_file}")
            if port_open(self.port):
                log.info("Kafka broker up at %s (pid %d, data in %s)", self.bootstrap, proc.pid, self.home)
                return self
            time.sleep(0.3)
        self.stop()
        raise BrokerStartError(f"Kafka broker not listening on {self.bootstrap} after {timeout:g} s; see {self.log_file}")

    def stop(self, timeout: float = 30.0, hard: bool = False) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.killpg(pid, signal.SIGKILL if hard else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        log.info("Kafka broker at %s stopped", self.bootstrap)

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"stopped (home {self.home})"
        return f"running at {self.bootstrap}, pid {pid}, port {'open' if port_open(self.port) else 'closed'}"


def _existing_controller_port(props: Path) -> int | None:
    try:
        for line in props.read_text().splitlines():
            if line.startswith("controller.quorum.voters="):
                return int(line.rsplit(":", 1)[1])
    except (FileNotFoundError, ValueError):
        return None
    return None
