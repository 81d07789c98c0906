"""A local Airflow 3 home on SQLite for the embedded default: config by environment, DB migrated once."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.waiting import WaitTimeout, wait_until
from include.paths import PROJECT_ROOT

DEFAULT_HOME = PROJECT_ROOT / ".airflow"


def airflow_env(home: Path = DEFAULT_HOME) -> dict[str, str]:
    """Environment that points Airflow at this project's dags/ and plugins/ and a SQLite DB in ``home``."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # Sized for a 2-core machine.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
    }


def kafka_extra(bootstrap_servers: str) -> dict[str, str]:
    """kafka_default's extra. The consumer settings are for metrics_alerts' watcher on topic-alerts (the Kafka
    provider's trigger builds its consumer from the extra alone): its consumer group, which starts at the
    topic's beginning the first time so that no alert published before the triggerer first ran is missed.
    The replay's producer and admin client ignore them (librdkafka says so once, as a CONFWARN line)."""
    return {"bootstrap.servers": bootstrap_servers, "group.id": "metrics_alerts", "auto.offset.reset": "earliest"}


def connection_env(bootstrap_servers: str, spark_master: str = "local[*]", spark: dict | None = None) -> dict[str, str]:
    """The two connections the DAGs use, as Airflow reads them from AIRFLOW_CONN_* variables. ``spark`` is
    spark_default whole (e.g. a Spark Connect connection), else spark-submit on ``spark_master``."""
    return {
        "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps({"conn_type": "kafka", "extra": kafka_extra(bootstrap_servers)}),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(spark or {"conn_type": "spark", "host": spark_master}),
    }


def migrate(home: Path = DEFAULT_HOME, timeout: float = 600) -> None:
    """Create or upgrade the metadata DB in ``home`` (idempotent)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_env(home)}
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL)


UI_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"
# The roles of Airflow's simple auth manager, each granting what the ones before it grant:
#   viewer  reads everything DAGs show (runs, task logs, XComs, the Replay validation page and its reports);
#   user    also triggers, clears and marks runs and pauses DAGs; sees no connections, variables or pools;
#   op      also reads and changes connections, variables, pools and config;
#   admin   everything.
UI_ROLES = ("viewer", "user", "op", "admin")
# The users `make up` configures (name -> role). "operator" may trigger but not change connections: that is
# exactly the "user" role (op could change the Kafka connection).
UI_USERS = {ADMIN_USER: "admin", "viewer": "viewer", "operator": "user"}


def parse_users(text: str) -> dict[str, str]:
    """``name:role,name:role`` (METRICS_REPLAY_UI_USERS) -> {name: role}, checked."""
    users: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, role = item.partition(":")
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"user {item!r}: a name of letters, digits, '-', '_' and '.', then ':' and a role")
        if role not in UI_ROLES:
            raise ValueError(f"user {item!r}: the role must be one of {', '.join(UI_ROLES)}")
        users[name] = role
    return users


def ui_env(home: Path, port: int, secret: str, users: dict[str, str] | None = None) -> dict[str, str]:
    """Airflow 3 as separate components on 127.0.0.1:<port>, LocalExecutor sized for 2 cores."""
    return {
        **airflow_env(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__API__SECRET_KEY": secret,
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{name}:{role}"
                                                             for name, role in (users or UI_USERS).items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "10",
    }


@dataclass
class UiStack:
    home: Path
    port: int
    users: dict[str, str]  # name -> role
    passwords: dict[str, str] = field(repr=False)
    generated: tuple[str, ...]  # the users whose password was generated by this start
    spark_conn_type: str = "spark"  # spark_default's type: "spark" (spark-submit) or "spark_connect" (warm)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password(self) -> str:
        return self.passwords[ADMIN_USER]

    @property
    def password_generated(self) -> bool:
        return ADMIN_USER in self.generated


def _free_port() -> int:
    from devtools.kafka import free_port

    return free_port()


def _secret(home: Path) -> str:
    path = home / "jwt_secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def ui_passwords(home: Path, users: dict[str, str], admin_password: str | None) -> tuple[dict[str, str], list[str]]:
    """Every user's password, kept in home/passwords.json (the file the simple auth manager reads): the one
    kept there, else one generated now (never a fixed default); admin's is ``admin_password`` when given."""
    path = home / "passwords.json"
    passwords = json.loads(path.read_text()) if path.exists() else {}
    generated = [name for name in users if name not in passwords and not (name == ADMIN_USER and admin_password)]
    passwords.update({name: secrets.token_urlsafe(12) for name in generated})
    if admin_password:
        passwords[ADMIN_USER] = admin_password
    path.touch()
    path.chmod(0o600)
    path.write_text(json.dumps(passwords))
    return passwords, generated


def add_connections(env: dict[str, str], bootstrap_servers: str, spark_master: str = "local[*]",
                    spark: dict | None = None) -> str:
    """kafka_default and spark_default in the metadata DB (so the UI shows and edits them); existing kept.

    ``spark`` is spark_default (e.g. a Spark Connect connection, include.spark_connect.connection), else
    ``spark_master`` for spark-submit. Returns spark_default's type as the DB holds it."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    wanted = {
        "kafka_default": {"conn_type": "kafka", "extra": kafka_extra(bootstrap_servers)},
        "spark_default": spark or {"conn_type": "spark", "host": spark_master},
    }
    spark_type = wanted["spark_default"]["conn_type"]
    for conn_id, conn in wanted.items():
        exists = subprocess.run([airflow, "connections", "get", conn_id, "--output", "json"], env=env,
                                capture_output=True, text=True, timeout=120)
        if exists.returncode != 0:
            subprocess.run([airflow, "connections", "add", conn_id, "--conn-json", json.dumps(conn)], env=env,
                           check=True, capture_output=True, timeout=120)
        elif conn_id == "spark_default":
            spark_type = kept_conn_type(exists.stdout) or "unknown"
    return spark_type


def kept_conn_type(listing: str) -> str | None:
    """The conn_type in `airflow connections get ID --output json`'s answer (a list of one), if it says."""
    try:
        rows = json.loads(listing)
    except ValueError:
        return None
    rows = rows if isinstance(rows, list) else [rows]
    return next((str(r["conn_type"]) for r in rows if isinstance(r, dict) and r.get("conn_type")), None)


def start_ui(home: Path, port: int, bootstrap_servers: str, password: str | None = None,
             connections_in_db: bool = True, timeout: float = 180, users: dict[str, str] | None = None,
             spark: dict | None = None) -> UiStack:
    """Start api-server, scheduler, dag-processor and triggerer in the background; pids in home/pids/.

    ``users`` (name -> role, default UI_USERS) may log in; ``password`` is admin's; ``spark`` is spark_default
    when it is not there yet (default: spark-submit on local[*])."""
    home.mkdir(parents=True, exist_ok=True)
    migrate(home)
    users = users or UI_USERS
    passwords, generated = ui_passwords(home, users, password)
    env = {**os.environ, **ui_env(home, port, _secret(home), users),
           # log servers on ports of their own, so two stacks on one machine do not collide
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port())}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if connections_in_db:
        spark_type = add_connections(env, bootstrap_servers, spark=spark)
    else:
        env.update(connection_env(bootstrap_servers, spark=spark))
        spark_type = (spark or {}).get("conn_type", "spark")
    pids = home / "pids"
    pids.mkdir(exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    for component in UI_COMPONENTS:
        args = [airflow, component] + (["--host", "127.0.0.1", "--port", str(port)] if component == "api-server"
                                       else [])
        with (home / f"{component}.log").open("ab") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        (pids / f"{component}.pid").write_text(f"{proc.pid}\n")
    def healthy() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as r:
            return r.status == 200

    try:
        wait_until(healthy, timeout, interval=0.5, what=f"the Airflow API server on port {port} to be healthy",
                   ignore=(OSError,))  # refused while it starts; urllib's HTTPError is an OSError too
    except WaitTimeout as exc:
        stop_ui(home)
        raise RuntimeError(f"{exc}; see {home}/api-server.log") from exc
    return UiStack(home=home, port=port, users=dict(users), passwords={u: passwords[u] for u in users},
                   generated=tuple(generated), spark_conn_type=spark_type)


def stop_ui(home: Path, timeout: float = 30) -> list[str]:
    """Stop every component start_ui started, by the pids it recorded (TERM all, then KILL stragglers)."""
    pids: dict[str, int] = {}
    for pid_file in sorted((home / "pids").glob("*.pid")):
        try:
            pids[pid_file.stem] = int(pid_file.read_text())
        except ValueError:
            pass
        pid_file.unlink(missing_ok=True)
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    alive = dict(pids)

    def all_gone() -> bool:
        for name, pid in list(alive.items()):
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child (a zombie still "exists")
            except ChildProcessError:
                pass
            try:
                os.killpg(pid, 0)
            except (ProcessLookupError, PermissionError):
                del alive[name]
        return not alive

    try:
        wait_until(all_gone, timeout, interval=0.3, what=f"the Airflow components of {home} to exit")
    except WaitTimeout:
        pass  # the stragglers are killed below
    for pid in alive.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return sorted(pids)
