"""The Replay validation page through its real FastAPI app, with Airflow's own access check in front of it.

Nothing of the plugin is overridden but where it finds the run folders. Authentication and authorisation are
Airflow's: real JWTs signed by the auth manager (as its /auth/token route signs them) and the
``requires_access_dag`` dependency, asking an auth manager chosen through Airflow's public config. That
manager is the simple auth manager `make up` runs, with per-DAG grants on top (the simple one grants all
DAGs or none), so a test can tell a check on metrics_replay from a check on DAGs in general.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from include import reports
from include.validation import RunValidation, compare
from include.contract import CPU_MEM_HEADER, CPU_MEM_NUMERIC
from include.formatting import csv_text
from include import replay_page

# Which DAGs' runs each user may read; roles are the simple auth manager's own.
GRANTS = {"reader": {"metrics_replay"}, "other_dag_reader": {"some_other_dag"}, "no_role": {"metrics_replay"}}
ROLES = {"reader": "viewer", "other_dag_reader": "viewer", "no_role": None}


class PerDagAuthManager(SimpleAuthManager):
    """The simple auth manager, and on top: a user reads the runs of the DAGs granted to them, nothing else."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        granted = details is not None and details.id in GRANTS.get(user.get_name(), set())
        return (granted and access_entity == DagAccessEntity.RUN
                and super().is_authorized_dag(method=method, user=user, access_entity=access_entity,
                                              details=details))


ROWS = [("server_1", "10:00:00", "10:00:30", "50.5", "60", ""),
        ("server_2", "10:00:00", "10:00:30", "12.25", "13", "")]


@pytest.fixture
def output_root(tmp_path):
    """One good run (with its report) and one whose validation.json is malformed."""
    root = tmp_path / "output"
    good = root / "manual__good"
    good.mkdir(parents=True)
    (good / "expected.csv").write_text(csv_text(CPU_MEM_HEADER, ROWS))
    (good / "cpu_mem.csv").write_text(csv_text(CPU_MEM_HEADER, ROWS))
    result = RunValidation(cpu_mem=compare(good / "expected.csv", good / "cpu_mem.csv", CPU_MEM_HEADER,
                                           CPU_MEM_NUMERIC), net_disk=None)
    result.write(good / "validation.json", {"run_id": "manual__good", "validated_at": "2026-11-25T02:00:00+00:00",
                                            "duration_seconds": 12.0})
    reports.write(good / "report.html", result.record(), good / "cpu_mem.csv", "manual__good", 80.07, 89.36)
    broken = root / "manual__broken"
    broken.mkdir()
    # The shape that used to turn the whole page into a 500 (KeyError on "passed").
    (broken / "validation.json").write_text(json.dumps({"run_id": "manual__broken", "cpu_mem": {}}))
    return root


@pytest.fixture
def auth_manager(airflow_db, monkeypatch, tmp_path):
    """PerDagAuthManager as Airflow's auth manager, set up the way the API server sets up its own."""
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{__name__}.{PerDagAuthManager.__name__}")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "reader:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(tmp_path / "passwords.json"))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-plugin-secret-" + "x" * 64)
    purge_cached_app()
    manager = init_auth_manager()
    assert isinstance(manager, PerDagAuthManager)
    yield manager
    purge_cached_app()  # the next test that needs an auth manager builds its own


@pytest.fixture
def second_root(tmp_path):
    """A second output root (as METRICS_REPLAY_OUTPUT_ROOTS allows) holding a failed run of another dataset, in a
    folder named like the first root's good run."""
    root = tmp_path / "more-output"
    run = root / "manual__good"
    run.mkdir(parents=True)
    (run / "expected.csv").write_text(csv_text(CPU_MEM_HEADER, ROWS))
    (run / "cpu_mem.csv").write_text(csv_text(CPU_MEM_HEADER, ROWS[:1]))
    result = RunValidation(cpu_mem=compare(run / "expected.csv", run / "cpu_mem.csv", CPU_MEM_HEADER,
                                           CPU_MEM_NUMERIC), net_disk=None)
    result.write(run / "validation.json", {"run_id": "manual__other", "validated_at": "2026-11-25T03:00:00+00:00",
                                           "duration_seconds": 30.0, "dataset": "data/other.csv", "mode": "batch"})
    reports.write(run / "report.html", result.record(), run / "cpu_mem.csv", "manual__other", 80.07, 89.36)
    return root


@pytest.fixture
def client(output_root, second_root, auth_manager):
    replay_page.app.dependency_overrides[replay_page.output_roots] = lambda: [output_root, second_root]
    yield TestClient(replay_page.app)
    replay_page.app.dependency_overrides.clear()


def bearer(manager: SimpleAuthManager, user: str) -> dict[str, str]:
    token = manager.generate_jwt(SimpleAuthManagerUser(username=user, role=ROLES[user]))
    return {"Authorization": f"Bearer {token}"}


ROUTES = ["/", "/api/runs", "/api/datasets", "/plotly.min.js", "/runs/manual__good/report",
          "/runs/manual__good/report?root=1", "/?status=fail&dataset=data/other.csv", "/api/blessings"]


def test_reader_sees_the_good_run_and_the_malformed_file_as_a_row(client, auth_manager, output_root):
    page = client.get("/", headers=bearer(auth_manager, "reader"))
    assert page.status_code == 200, page.text
    assert 'data-run-id="manual__good"' in page.text and "2/2 matching, produced 2, missing 0, extra 0" in page.text
    row = page.text.split('<tr class="unreadable" data-folder="manual__broken">', 1)[1].split("</tr>", 1)[0]
    assert ">manual__broken<" in row and "UNREADABLE" in row
    assert str(output_root / "manual__broken" / "validation.json") in row and "field &#x27;passed&#x27;" in row

    runs = client.get("/api/runs", headers=bearer(auth_manager, "reader"))
    assert runs.status_code == 200
    by_folder = {r["folder"]: r for r in runs.json()}
    assert by_folder["manual__good"]["validation"]["passed"] is True and by_folder["manual__good"]["problem"] is None
    broken = by_folder["manual__broken"]
    assert broken["validation"] is None and "field 'passed'" in broken["problem"]

    report = client.get("/runs/manual__good/report", headers=bearer(auth_manager, "reader"))
    assert report.status_code == 200 and "Replay validation: manual__good" in report.text
    assert client.get("/runs/manual__broken/report", headers=bearer(auth_manager, "reader")).status_code == 404
    assert client.get("/runs/..%2F..%2Fetc/report", headers=bearer(auth_manager, "reader")).status_code == 404


def test_the_ui_session_cookie_is_enough(client, auth_manager):
    token = auth_manager.generate_jwt(SimpleAuthManagerUser(username="reader", role="viewer"))
    client.cookies.set(COOKIE_NAME_JWT_TOKEN, token)
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_is_401(client, route):
    response = client.get(route)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("user", ["other_dag_reader", "no_role"])
def test_a_user_who_may_not_read_metrics_replay_runs_is_403(client, auth_manager, route, user):
    """other_dag_reader may read DAG runs, only not metrics_replay's: the check names this DAG."""
    response = client.get(route, headers=bearer(auth_manager, user))
    assert response.status_code == 403, response.text
    assert "manual__good" not in response.text


def test_runs_of_both_roots_filtered_paged_and_each_report_served(client, auth_manager):
    headers = bearer(auth_manager, "reader")
    page = client.get("/", headers=headers)
    assert page.status_code == 200
    assert 'data-run-id="manual__good"' in page.text and 'data-run-id="manual__other"' in page.text
    assert '<script src="plotly.min.js"></script>' in page.text
    assert page.text.count('class="trend"') == 2  # data/other.csv and (not recorded)

    failed = client.get("/", params={"status": "fail", "dataset": "data/other.csv", "since": "", "until": ""},
                        headers=headers)
    assert failed.status_code == 200
    assert 'data-run-id="manual__other"' in failed.text and 'data-run-id="manual__good"' not in failed.text
    assert 'href="runs/manual__good/report?root=1">report</a>' in failed.text
    assert 'href="../dags/metrics_replay/runs/manual__other" target="_top">grid</a>' in failed.text

    runs = client.get("/api/runs", params={"per_page": 1, "page": 3}, headers=headers)
    assert runs.status_code == 200 and runs.headers["X-Total-Count"] == "3"
    # newest first: broken (its file was written now), other, good
    assert [r["run_id"] for r in runs.json()] == ["manual__good"]
    assert runs.json()[0]["links"]["report"] == "runs/manual__good/report"
    datasets = client.get("/api/datasets", params={"dataset": "data/other.csv"}, headers=headers).json()
    assert [(d["dataset"], d["runs"], d["pass_rate"], d["latest"]["status"]) for d in datasets] == [
        ("data/other.csv", 1, 0.0, "fail")]

    first = client.get("/runs/manual__good/report", headers=headers)
    second = client.get("/runs/manual__good/report", params={"root": 1}, headers=headers)
    assert "Replay validation: manual__good" in first.text and "Replay validation: manual__other" in second.text
    assert client.get("/runs/manual__good/report", params={"root": 2}, headers=headers).status_code == 404
    js = client.get("/plotly.min.js", headers=headers)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "plotly" in js.text[:2000].lower()


@pytest.mark.parametrize("query,words", [({"status": "failed"}, "status: 'failed'"),
                                         ({"since": "25.11.2026"}, "since: '25.11.2026' is not a date"),
                                         ({"page": 0}, "page")])
def test_a_bad_filter_is_refused_naming_the_parameter(client, auth_manager, query, words):
    response = client.get("/", params=query, headers=bearer(auth_manager, "reader"))
    assert response.status_code in (400, 422) and words in response.text, response.text


def test_the_page_and_its_api_show_the_blessings_of_the_runs_expected_files(client, auth_manager, output_root):
    """A blessing's audit record beside the expected file a listed run was compared with (include.blessing)."""
    from include import blessing

    expected = output_root / "manual__good" / "expected.csv"
    record = blessing.BlessRecord(
        blessed_at="2026-11-26T03:00:00+00:00", approved_by="operator", run_id="manual__good", output="cpu_mem",
        expected_path=str(expected), produced_path=str(expected.with_name("cpu_mem.csv")),
        previous_version=str(expected.with_name("expected.v1.csv")), previous_sha256="a" * 64, new_sha256="b" * 64,
        expected_rows=2, produced_rows=2, matching=1, missing=0, extra=0, mismatches=1, comment="intended")
    blessing.append_record(blessing.history_path(expected), record)
    page = client.get("/", headers=bearer(auth_manager, "reader"))
    assert page.status_code == 200
    row = page.text.split('<tr class="blessing" data-run-id="manual__good" data-output="cpu_mem">', 1)[1]
    assert '<td class="l comment">intended</td>' in row.split("</tr>", 1)[0]
    found = client.get("/api/blessings", headers=bearer(auth_manager, "reader"))
    assert found.status_code == 200 and found.json() == {"records": [record.model_dump(mode="json")],
                                                         "problems": []}


def test_loading_the_plugin_leaves_the_page_unimported_and_its_mount_serves_the_page(client, auth_manager):
    """Every process that loads plugins (dag.test(), a worker) imports plugins/replay_validation.py: that alone
    must not import the page's app (and Airflow's core API with its access checks). Mounted as the API server
    mounts it, the plugin's app hands requests to the page's own, access checks included."""
    import subprocess
    import sys

    from starlette.applications import Starlette
    from starlette.routing import Mount

    from include.paths import PROJECT_ROOT

    probe = ("import sys; sys.path.insert(0, 'plugins'); import replay_validation; "
             "print(sorted(m for m in ('include.replay_page', 'airflow.api_fastapi.core_api.security') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    assert loaded.stdout.strip().splitlines()[-1] == "[]", loaded.stdout + loaded.stderr

    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    try:
        import replay_validation
    finally:
        sys.path.remove(str(PROJECT_ROOT / "plugins"))
    (mounted,) = replay_validation.ReplayValidationPlugin.fastapi_apps
    server = TestClient(Starlette(routes=[Mount(mounted["url_prefix"], app=mounted["app"])]))
    assert server.get(f"{mounted['url_prefix']}/").status_code == 401  # the page's access check answered
    assert server.get(f"{mounted['url_prefix']}/", headers=bearer(auth_manager, "reader")).status_code == 200
