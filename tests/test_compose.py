"""docker-compose.yaml, checked statically (no Docker engine here): structure, paths, connections, pins, ports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_has_the_whole_stack(compose):
    services = compose["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-init", "postgres", "kafka", "spark-connect", "spark-master",
                 "spark-worker"):
        assert name in services, name
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert services["kafka"]["image"] == "apache/kafka:4.3.1"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_images_are_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: image {image} is not pinned"
        assert re.search(r":\d+\.\d+", image), f"{name}: image {image} has no version tag"
    assert compose["services"]["airflow-scheduler"]["image"].startswith("metrics-replay-airflow:")


def test_mounted_and_referenced_files_exist(compose):
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("./"):
                if host == "./output":
                    continue  # created by the first run
                assert (ROOT / host).exists(), f"{name}: mounted {host} does not exist"
        build = svc.get("build")
        if build:
            dockerfile = ROOT / build["context"] / build["dockerfile"]
            assert dockerfile.is_file(), dockerfile
            for line in dockerfile.read_text().splitlines():
                words = line.split()
                if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
                    for source in [w for w in words[1:-1] if not w.startswith("--")]:
                        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_airflow_services_mount_the_project_folders(compose):
    for name in AIRFLOW_SERVICES:
        mounts = {v.split(":")[0] for v in compose["services"][name]["volumes"]}
        assert {"./dags", "./include", "./plugins", "./data"} <= mounts, name


def test_airflow_services_mount_only_runtime_folders(compose):
    """The containers see the runtime code, never the development tooling (devtools/, bench/) or tests/."""
    runtime = {"./dags", "./plugins", "./include", "./data", "./output"}
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        hosts = {v.split(":")[0] for v in compose["services"][name].get("volumes", [])}
        binds = {h for h in hosts if h.startswith((".", "/"))}
        assert binds <= runtime, f"{name} mounts {sorted(binds - runtime)}; only {sorted(runtime)} may be mounted"


def test_image_jar_stage_uses_the_one_pom():
    """include/spark-kafka-pom.xml is the one list of the connector's jars: the Dockerfile and the Makefile run
    mvn on it and add no artifact list of their own, and the jars land where include.spark_submit looks."""
    import xml.etree.ElementTree as ET

    from include.paths import PROJECT_ROOT
    from include.spark_submit import SPARK_KAFKA_JARS

    pom = "include/spark-kafka-pom.xml"
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    listed = ET.parse(ROOT / pom).find(".//m:plugin[m:artifactId='maven-dependency-plugin']"
                                       "/m:configuration/m:includeArtifactIds", ns)
    assert listed is not None and "spark-sql-kafka" in listed.text, f"{pom} lists no connector jars"
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    jar_stage = re.search(r"^FROM \S+ AS jars$(.*?)^FROM ", dockerfile, re.M | re.S)
    assert jar_stage, "docker/Dockerfile has no `jars` build stage"
    copied = re.search(rf"^COPY {re.escape(pom)} (\S+)$", jar_stage.group(1), re.M)
    assert copied, f"the jars stage does not copy {pom}"
    mvn = re.search(r"^RUN mvn .*$", jar_stage.group(1), re.M)
    assert mvn and f"-f {copied.group(1)} " in mvn.group(0), "the jars stage does not run mvn on the pom"
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(rf"^\S*spark-kafka/\.done: {re.escape(pom)}( .*)?\n((?:\t.*\n)+)", makefile, re.M)
    assert rule and re.search(r"\bmvn .*-f \$< dependency:copy-dependencies package ", rule.group(2)), \
        f"the Makefile's spark-kafka jars do not come from mvn on {pom}"
    # The job's Java UDF is built from its source in both: the image copies it where the pom looks.
    assert "include/java/" in (rule.group(1) or ""), "the Makefile does not rebuild the jars when the UDF changes"
    source = ET.parse(ROOT / pom).find(".//m:build/m:sourceDirectory", ns).text
    assert re.search(rf"^COPY include/java {re.escape(str(Path(copied.group(1)).parent / source))}$",
                     jar_stage.group(1), re.M), "the jars stage does not copy the UDF's source where the pom looks"
    assert " package " in mvn.group(0), "the jars stage does not build the UDF's jar"
    for name, text in (("docker/Dockerfile", dockerfile), ("Makefile", makefile)):
        assert "-DincludeArtifactIds" not in text, f"{name} lists jars of its own; {pom} is the one list"
    landed = re.search(r"^COPY --from=jars \S+ /opt/airflow/project/(\S+)$", dockerfile, re.M)
    assert landed and Path(landed.group(1)) == SPARK_KAFKA_JARS.relative_to(PROJECT_ROOT), \
        "the image's jars are not where include/spark_submit.py looks for them"


def test_connections_match_the_dag(compose):
    from airflow.dag_processing.dagbag import DagBag

    from dag_module import load_dag_module

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["metrics_replay"]
    kafka_id = dag.params["kafka_conn_id"]
    spark_id = load_dag_module().SPARK_CONN_ID
    env = compose["services"]["airflow-scheduler"]["environment"]
    kafka = json.loads(env[f"AIRFLOW_CONN_{kafka_id.upper()}"])
    spark = json.loads(env[f"AIRFLOW_CONN_{spark_id.upper()}"])
    assert kafka["conn_type"] == "kafka"
    host, port = kafka["extra"]["bootstrap.servers"].split(":")
    assert host in compose["services"]
    assert f"//{host}:{port}" in compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    # spark_default is the warm Spark: the spark-connect service, as include.spark_connect connects to it
    from include.spark_connect import connection

    assert spark == connection("spark-connect", 15002)
    server = compose["services"]["spark-connect"]
    assert server["entrypoint"][:3] == ["python", "-m", "include.spark_connect"]
    assert server["entrypoint"][server["entrypoint"].index("--port") + 1] == "15002"
    assert server["image"] == compose["services"]["airflow-scheduler"]["image"]  # Java, pyspark, the jars
    assert "--port 7077" in compose["services"]["spark-master"]["command"]  # the cluster route (README)


def test_host_ports_do_not_clash(compose):
    seen: dict[str, str] = {}
    for name, svc in compose["services"].items():
        for mapping in svc.get("ports", []):
            host_port = str(mapping).split(":")[0]
            assert host_port not in seen, f"port {host_port} used by {seen.get(host_port)} and {name}"
            seen[host_port] = name
    assert "8080" in seen and "9092" in seen


def test_no_well_known_secret(compose):
    env = compose["services"]["airflow-apiserver"]["environment"]
    assert ":?" in env["AIRFLOW__API_AUTH__JWT_SECRET"], "the JWT secret must be required, not defaulted"


def test_users_and_roles_are_make_ups(compose):
    from devtools import airflow_home

    env = compose["services"]["airflow-apiserver"]["environment"]
    made_up = airflow_home.ui_env(airflow_home.DEFAULT_HOME, 8080, "s" * 64)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == made_up["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]


def test_docker_compose_config_accepts_the_file():
    """The compose CLI (installed by `make system-deps`) validates the file; it needs no engine for that."""
    cli = shutil.which("docker-compose")
    assert cli, "docker-compose CLI missing: `make system-deps` installs it"
    env = {**os.environ, "AIRFLOW_JWT_SECRET": "test-secret"}
    done = subprocess.run([cli, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, env=env,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    missing = subprocess.run([cli, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "AIRFLOW_JWT_SECRET"},
                             timeout=60, cwd=ROOT)
    assert missing.returncode != 0 and "AIRFLOW_JWT_SECRET" in missing.stderr


def test_spark_worker_sees_the_output_folder_where_the_driver_does(compose):
    """Live mode's checkpoints lie under the run's output folder and the executors write them."""
    airflow = {v.split(":")[0]: v.split(":")[1] for v in compose["services"]["airflow-scheduler"]["volumes"]}
    worker = {v.split(":")[0]: v.split(":")[1] for v in compose["services"]["spark-worker"]["volumes"]}
    assert worker["./output"] == airflow["./output"]


def test_spark_connect_server_sees_the_output_folder_and_runtime_code_only(compose):
    """The Spark Connect server writes the runs' staged CSV parts where the task then reads them."""
    airflow = {v.split(":")[0]: v.split(":")[1] for v in compose["services"]["airflow-scheduler"]["volumes"]}
    server = {v.split(":")[0]: v.split(":")[1] for v in compose["services"]["spark-connect"]["volumes"]}
    assert server["./output"] == airflow["./output"]
    assert server["./include"] == airflow["./include"]
    assert set(server) <= {"./include", "./output"}
