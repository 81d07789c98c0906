"""Real Apache Kafka 4.3.1 brokers in KRaft mode (combined broker+controller nodes), started locally.

`LocalBroker` is one node; `LocalCluster` is three of them forming one quorum, for replication tests.
A broker may take SASL/PLAIN logins on its client listener instead of PLAINTEXT (`sasl_users`), open more
client listeners of any security protocol (`listeners`, e.g. SASL_SSL or SSL with client certificates), and
hold SCRAM-SHA-512 credentials from the start (`scram_users`).
The jars come from `make jars` (mvn, devtools/kafka-pom.xml). Brokers listen on 127.0.0.1 only;
each node's data, config, log and pid file live in one git-ignored folder.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools.waiting import WaitTimeout, wait_until
from include.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

KAFKA_JARS = PROJECT_ROOT / ".cache" / "jars" / "kafka"
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


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True)
class Listener:
    """A client listener on 127.0.0.1 beside a broker's main one (which the brokers talk over).

    ``settings`` are this listener's own broker settings, written as ``listener.name.<name>.<key>``: e.g.
    ``ssl.keystore.location``, ``ssl.client.auth``, ``sasl.enabled.mechanisms`` or
    ``scram-sha-512.sasl.jaas.config``."""

    name: str  # e.g. "SCRAM_TLS"; not PLAINTEXT, SASL_PLAINTEXT or CONTROLLER (the broker's own)
    port: int
    protocol: str  # one of SECURITY_PROTOCOLS
    settings: dict[str, str] = field(default_factory=dict, repr=False)  # may hold keystore passwords

    def __post_init__(self) -> None:
        if self.protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"listener {self.name}: security protocol {self.protocol!r} is not one of "
                             f"{', '.join(SECURITY_PROTOCOLS)}")
        if not self.name.replace("_", "").isalnum() or self.name.upper() != self.name:
            raise ValueError(f"listener name {self.name!r}: upper-case letters, digits and '_' only")
        if self.name in ("PLAINTEXT", "SASL_PLAINTEXT", "CONTROLLER"):
            raise ValueError(f"listener name {self.name!r} is taken by the broker's own listeners")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def server_properties(node_id: int, port: int, controller_port: int, data_dir: Path, voters: str,
                      extra: dict[str, str] | None = None, sasl_jaas: str | None = None,
                      listeners: tuple[Listener, ...] | list[Listener] = ()) -> str:
    """server.properties of one combined node. With ``sasl_jaas`` (see plain_jaas) the client and
    inter-broker listener is SASL_PLAINTEXT with the PLAIN mechanism; the controller listener stays
    PLAINTEXT on 127.0.0.1. ``listeners`` are further client listeners with their own settings."""
    listener = "SASL_PLAINTEXT" if sasl_jaas else "PLAINTEXT"
    client = [f"{listener}://127.0.0.1:{port}", *(f"{x.name}://127.0.0.1:{x.port}" for x in listeners)]
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": ",".join([*client, f"CONTROLLER://127.0.0.1:{controller_port}"]),
        "advertised.listeners": ",".join(client),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": listener,
        "listener.security.protocol.map": ",".join([f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
                                                    *(f"{x.name}:{x.protocol}" for x in listeners)]),
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
    if sasl_jaas:
        props.update({
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": sasl_jaas,
        })
    for x in listeners:
        props.update({f"listener.name.{x.name.lower()}.{k}": v for k, v in x.settings.items()})
    props.update(extra or {})
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _jaas_quote(value: str) -> str:
    # Quoted once for JAAS and read again by Java's properties parser: keep to characters neither escapes.
    if any(c in value for c in '"\\\n\r'):
        raise ValueError("a local broker's SASL user names and passwords may not hold quotes, backslashes or "
                         "line breaks")
    return f'"{value}"'


def plain_jaas(users: dict[str, str], broker_user: str, broker_password: str) -> str:
    """The broker's PLAIN JAAS line: its own inter-broker login, and every user it accepts (itself too)."""
    accepted = {broker_user: broker_password, **users}
    bad = [u for u in accepted if not u or not all(c.isalnum() or c in "-_." for c in u)]
    if bad:
        raise ValueError(f"SASL user names may hold letters, digits, '-', '_' and '.' only: {bad}")
    entries = " ".join(f"user_{u}={_jaas_quote(p)}" for u, p in accepted.items())
    return (f"org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"username={_jaas_quote(broker_user)} password={_jaas_quote(broker_password)} {entries};")


def scram_credential(user: str, password: str) -> str:
    """The storage tool's ``--add-scram`` value of one SCRAM-SHA-512 user."""
    # Its parser splits on ',', '=' and brackets: keep names and passwords to characters it never splits on.
    bad = [v for v in (user, password) if not v or not all(c.isalnum() or c in "-_." for c in v)]
    if bad:
        raise ValueError("a local broker's SCRAM user names and passwords may hold letters, digits, '-', '_' and "
                         "'.' only")
    return f"SCRAM-SHA-512=[name={user},password={password}]"


def live_pid(pid_file: Path) -> int | None:
    """The process id in ``pid_file`` when that process is alive; None without a file or a live process."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def stop_process_group(pid: int, gone: Callable[[], bool], what: str, timeout: float, hard: bool = False) -> None:
    """Stop a launcher's process group (SIGTERM, or SIGKILL when ``hard``), wait until ``gone()`` says it has
    exited, and SIGKILL it if it is still there after ``timeout`` s. ``what`` names it in the log."""
    os.killpg(pid, signal.SIGKILL if hard else signal.SIGTERM)

    def exited() -> bool:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child (a zombie still "exists")
        except ChildProcessError:
            pass
        return gone()

    try:
        wait_until(exited, timeout, interval=0.2, what=f"{what} (pid {pid}) to exit")
    except WaitTimeout:
        log.warning("%s (pid %d) still running after %g s; killing it", what, pid, timeout)
        os.killpg(pid, signal.SIGKILL)


@dataclass
class LocalBroker:
    home: Path = DEFAULT_HOME
    port: int = DEFAULT_PORT
    controller_port: int | None = None
    node_id: int = 1
    heap: str = "512m"
    # A node of a LocalCluster: the quorum's voters and the shared cluster id (None: a one-node quorum).
    voters: str | None = None
    cluster_id: str | None = None
    extra_properties: dict[str, str] = field(default_factory=dict)
    # SASL/PLAIN users (name -> password) of the client listener; None: a PLAINTEXT listener.
    sasl_users: dict[str, str] | None = field(default=None, repr=False)
    inter_broker_user: str = "broker"
    inter_broker_password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    # More client listeners (TLS, SCRAM, client certificates...) beside the main one.
    listeners: list[Listener] = field(default_factory=list)
    # SCRAM-SHA-512 users (name -> password), stored when the storage is formatted, so they exist before any
    # listener opens. (The storage tool takes them on its command line: a test broker's set-up only.)
    scram_users: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def listener(self, name: str) -> Listener:
        return next(x for x in self.listeners if x.name == name)

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    def pid(self) -> int | None:
        return live_pid(self.pid_file)

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
            self.controller_port = _existing_controller_port(props, self.node_id) or free_port()
        voters = self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}"
        jaas = (plain_jaas(self.sasl_users, self.inter_broker_user, self.inter_broker_password)
                if self.sasl_users is not None else None)
        props.touch()
        props.chmod(0o600)  # it may hold SASL passwords
        props.write_text(server_properties(self.node_id, self.port, self.controller_port, data, voters,
                                           self.extra_properties, sasl_jaas=jaas, listeners=self.listeners))
        if not (data / "meta.properties").exists():
            cluster_id = self.cluster_id or new_cluster_id()
            scram = [arg for user, password in self.scram_users.items()
                     for arg in ("--add-scram", scram_credential(user, password))]
            subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                                      *scram), check=True, capture_output=True, timeout=120)
        return props

    def launch(self) -> subprocess.Popen:
        """Configure and start the JVM; do not wait for it (see wait_listening)."""
        if port_open(self.port):
            raise BrokerStartError(f"port {self.port} on 127.0.0.1 is taken by another process")
        props = self.configure()
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(self._java("kafka.Kafka", str(props)), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc

    def wait_listening(self, proc: subprocess.Popen, timeout: float) -> None:
        def listening() -> bool:
            if proc.poll() is not None:  # no point waiting for a port a dead JVM will never open
                raise BrokerStartError(f"Kafka broker exited with {proc.returncode}; see {self.log_file}")
            return all(port_open(port) for port in (self.port, *(x.port for x in self.listeners)))

        try:
            wait_until(listening, timeout, interval=0.3, what=f"the Kafka broker to listen on {self.bootstrap}"
                       + "".join(f" and {x.bootstrap} ({x.name})" for x in self.listeners))
        except WaitTimeout as exc:
            self.stop()
            raise BrokerStartError(f"{exc}; see {self.log_file}") from exc
        log.info("Kafka broker up at %s (pid %d, data in %s)", self.bootstrap, proc.pid, self.home)

    def start(self, timeout: float = 90.0) -> LocalBroker:
        if self.running():
            log.info("Kafka broker already running at %s (pid %s)", self.bootstrap, self.pid())
            return self
        self.wait_listening(self.launch(), timeout)
        return self

    def stop(self, timeout: float = 30.0, hard: bool = False) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        stop_process_group(pid, lambda: self.pid() is None, f"the Kafka broker at {self.bootstrap}", timeout, hard)
        self.pid_file.unlink(missing_ok=True)
        log.info("Kafka broker at %s stopped", self.bootstrap)

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"stopped (home {self.home})"
        return f"running at {self.bootstrap}, pid {pid}, port {'open' if port_open(self.port) else 'closed'}"


@dataclass
class LocalCluster:
    """``size`` combined broker+controller nodes on 127.0.0.1 forming one KRaft quorum (all are voters).

    Each node has its own home (``home``/node-<id>) and ports. Internal topics are replicated to every node
    (at most 3) with min.insync.replicas 2, so the cluster keeps working when one node is gone.
    """

    home: Path
    size: int = 3
    heap: str = "384m"
    nodes: list[LocalBroker] = field(init=False)

    def __post_init__(self) -> None:
        ports = [(free_port(), free_port()) for _ in range(self.size)]
        voters = ",".join(f"{i}@127.0.0.1:{controller}" for i, (_, controller) in enumerate(ports, 1))
        replicas = min(3, self.size)
        min_isr = str(min(2, replicas))
        internal = {
            "offsets.topic.replication.factor": str(replicas),
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": str(replicas),
            "share.coordinator.state.topic.min.isr": min_isr,
            "default.replication.factor": str(replicas),
        }
        cluster_id = new_cluster_id()
        self.nodes = [LocalBroker(home=self.home / f"node-{i}", port=port, controller_port=controller, node_id=i,
                                  heap=self.heap, voters=voters, cluster_id=cluster_id, extra_properties=internal)
                      for i, (port, controller) in enumerate(ports, 1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> LocalBroker:
        return next(n for n in self.nodes if n.node_id == node_id)

    def start(self, timeout: float = 120.0) -> LocalCluster:
        """Start every node at once (a node waits for a quorum of voters), then wait until all are brokers."""
        deadline = time.monotonic() + timeout
        try:
            with ThreadPoolExecutor(self.size) as pool:
                list(pool.map(lambda n: n.start(timeout), self.nodes))
            self.wait_for_brokers(self.size, max(deadline - time.monotonic(), 1.0))
        except BaseException:
            self.stop(hard=True)
            raise
        log.info("Kafka cluster of %d nodes up at %s (homes in %s)", self.size, self.bootstrap, self.home)
        return self

    def wait_for_brokers(self, count: int, timeout: float) -> None:
        """Until the cluster's metadata lists ``count`` brokers."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log.connection.close": False})
        seen = 0

        def all_listed() -> bool:
            nonlocal seen
            seen = 0  # until the metadata answers
            seen = len(admin.list_topics(timeout=5).brokers)
            return seen >= count

        try:
            wait_until(all_listed, timeout, interval=0.5, what=f"{count} brokers in the metadata of {self.bootstrap}",
                       ignore=(KafkaException,))
        except WaitTimeout as exc:
            raise BrokerStartError(f"Kafka cluster at {self.bootstrap} lists {seen} of {count} brokers after "
                                   f"{timeout:g} s; see the server.log files in {self.home}") from exc

    def stop(self, hard: bool = False) -> None:
        with ThreadPoolExecutor(self.size) as pool:
            list(pool.map(lambda n: n.stop(hard=hard), self.nodes))


def _existing_controller_port(props: Path, node_id: int) -> int | None:
    try:
        for line in props.read_text().splitlines():
            if line.startswith("controller.quorum.voters="):
                for voter in line.split("=", 1)[1].split(","):
                    if voter.startswith(f"{node_id}@"):
                        return int(voter.rsplit(":", 1)[1])
    except (FileNotFoundError, ValueError):
        return None
    return None
