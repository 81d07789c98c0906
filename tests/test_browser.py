"""A person's flow in the Airflow UI, in headless Chromium (Debian's), driven by Playwright, and who may do what.

The stack is what `make up` starts (api-server, scheduler, dag-processor, triggerer, real broker), on free
ports, with `make up`'s users: admin, viewer (role viewer) and operator (role user: may trigger and clear, not
change connections). Their tokens are real JWTs from the API server's /auth/token. Screenshots of each step go
to output/browser-test/ in the project.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from devtools import generate, reference
from devtools import airflow_home
from devtools.kafka import free_port
from devtools.waiting import WaitTimeout, wait_until
from include.paths import DEFAULT_DATASET, OUTPUT_DIR, output_dir_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = OUTPUT_DIR / "browser-test"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def ui(tmp_path_factory, kafka_broker):
    home = tmp_path_factory.mktemp("airflow-ui")
    stack = airflow_home.start_ui(home, free_port(), kafka_broker.bootstrap, connections_in_db=False)
    yield stack
    airflow_home.stop_ui(home)


def api(ui, path: str, token: str | None = None, body: dict | None = None, method: str | None = None):
    """(status, body): the body parsed when it is JSON, else its text (an HTML page); {} for an error."""
    req = urllib.request.Request(f"{ui.url}{path}", method=method or ("POST" if body is not None else "GET"),
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            if "json" in r.headers.get("Content-Type", "json"):
                return r.status, json.loads(data or b"{}")
            return r.status, data.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def token(ui, user: str = "admin") -> str:
    status, body = api(ui, "/auth/token", body={"username": user, "password": ui.passwords[user]})
    assert status in (200, 201), (user, status)
    return body["access_token"]


RUNS = "/api/v2/dags/metrics_replay/dagRuns"


def trigger_body(conf: dict) -> dict:
    return {"logical_date": None, "conf": conf}


def connection_changes(tok: str | None) -> dict[str, tuple]:
    """Every way to change a connection (and to read one: an extra may hold a password), as api() arguments."""
    conn = {"connection_id": "kafka_default", "conn_type": "kafka",
            "extra": json.dumps({"bootstrap.servers": "127.0.0.1:1"})}
    return {"list": ("/api/v2/connections", tok),
            "read": ("/api/v2/connections/kafka_default", tok),
            "add": ("/api/v2/connections", tok, {**conn, "connection_id": "someone_elses"}),
            "edit": ("/api/v2/connections/kafka_default", tok, conn, "PATCH"),
            "delete": ("/api/v2/connections/kafka_default", tok, None, "DELETE")}


def test_no_well_known_password_and_api_refuses_anonymous(ui):
    assert ui.users == {"admin": "admin", "viewer": "viewer", "operator": "user"}  # what `make up` configures
    assert set(ui.generated) == set(ui.users) and len(set(ui.passwords.values())) == 3
    for password in ui.passwords.values():
        assert len(password) >= 12 and password not in ("admin", "airflow", "viewer", "operator")
    assert api(ui, "/api/v2/dags")[0] == 401
    assert api(ui, "/auth/token", body={"username": "admin", "password": "admin"})[0] in (401, 403)
    assert api(ui, "/auth/token", body={"username": "viewer", "password": ui.passwords["operator"]})[0] in (401, 403)
    assert api(ui, "/replay-validation/api/runs")[0] == 401  # the plugin page follows the same rule
    assert api(ui, RUNS, body=trigger_body({"seconds_per_group": 0}))[0] == 401
    assert api(ui, f"{RUNS}/any/taskInstances/check_broker/logs/1")[0] == 401
    assert {what: api(ui, *call)[0] for what, call in connection_changes(None).items()} == {
        what: 401 for what in connection_changes(None)}
    assert api(ui, "/api/v2/dags", token(ui))[0] == 200


def wait_for_dag(ui, tok: str, timeout: float = 120) -> None:
    wait_until(lambda: api(ui, "/api/v2/dags/metrics_replay", tok)[0] == 200, timeout, interval=1,
               what="metrics_replay to appear in the API")


def fill(dialog, param: str, value: str) -> None:
    """Type into the trigger form's field of ``param`` (the form names inputs element_<param>)."""
    box = dialog.locator(f"input[name=element_{param}]")
    box.fill(value)
    box.press("Tab")  # number inputs commit on blur


def log_in(p, ui, user: str):
    """A fresh headless Chromium page, logged in through the UI's own form as ``user``."""
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{ui.url}/")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(ui.passwords[user])
    page.screenshot(path=str(SHOTS / f"01-login-{user}.png"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{ui.url}/")
    return browser, page


def open_trigger_form(page, ui):
    page.goto(f"{ui.url}/dags/metrics_replay")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for()
    return dialog


def run_ids(ui, tok: str) -> set[str]:
    return {r["dag_run_id"] for r in api(ui, RUNS, tok)[1]["dag_runs"]}


@pytest.fixture(scope="module")
def operator_run(ui, tmp_path_factory) -> dict:
    """A run the operator (role user) triggered with the UI's Trigger button, changing a threshold in the form;
    its record once it has ended. The tests of the result and of the viewer's rights read it."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    expected = tmp_path_factory.mktemp("operator-run") / "expected_cpu70.csv"
    ds = reference.write_expected(DEFAULT_DATASET, expected, None, cpu_threshold=70.0)
    assert ds.rows == 28_800
    tok = token(ui, "operator")
    wait_for_dag(ui, tok)
    before = run_ids(ui, tok)
    with sync_playwright() as p:
        browser, page = log_in(p, ui, "operator")
        dialog = open_trigger_form(page, ui)
        fill(dialog, "seconds_per_group", "0")
        fill(dialog, "cpu_threshold", "70")
        fill(dialog, "expected_path", str(expected))
        fill(dialog, "tolerance", "0.01")  # the output is exact: nothing within it, but validation.json says it
        page.screenshot(path=str(SHOTS / "02-trigger-form.png"), full_page=True)
        dialog.get_by_role("button", name="Trigger").click()

        # Follow the run until it ends (the API says when; the grid shows it).
        def ended_run() -> dict | None:
            new = [r for r in api(ui, RUNS, tok)[1]["dag_runs"] if r["dag_run_id"] not in before]
            return new[0] if new and new[0]["state"] in ("success", "failed") else None

        run = wait_until(ended_run, 600, interval=1, what="the triggered run to end")
        browser.close()
    return run


def test_trigger_follow_and_read_the_result(ui, operator_run):
    from playwright.sync_api import sync_playwright

    run = operator_run
    assert run["conf"]["cpu_threshold"] == 70 and run["conf"]["seconds_per_group"] == 0
    assert run["conf"]["tolerance"] == 0.01
    assert run["state"] == "success", run
    tok = token(ui, "operator")
    status, entry = api(ui, f"{RUNS}/{run['dag_run_id']}/taskInstances/validate_output/xcomEntries/"
                            "validation_summary", tok)
    assert status == 200, status
    # The API returns the stored (serialized) form; read it as text.
    xcom_text = entry["value"] if isinstance(entry["value"], str) else json.dumps(entry["value"])
    assert re.search(r"passed\W+(true|True)", xcom_text), xcom_text[:500]
    assert "matching 14400" in xcom_text, xcom_text[:500]

    with sync_playwright() as p:
        browser, page = log_in(p, ui, "operator")
        page.goto(f"{ui.url}/dags/metrics_replay/runs/{run['dag_run_id']}")
        page.get_by_text(run["dag_run_id"]).first.wait_for()  # the run's page has rendered
        page.screenshot(path=str(SHOTS / "03-run.png"))

        page.goto(f"{ui.url}/replay-validation/")
        row = page.locator(f"tr[data-run-id='{run['dag_run_id']}']")
        assert "PASS" in row.inner_text()
        assert row.locator("td.cpu-mem").inner_text() == "14400/14400 matching, produced 14400, missing 0, extra 0"
        assert row.locator("td.net-disk").inner_text() == "14400/14400 matching, produced 14400, missing 0, extra 0"
        page.screenshot(path=str(SHOTS / "04-replay-validation.png"))
        row.get_by_role("link", name="report").click()
        page.wait_for_url("**/replay-validation/runs/*/report")
        page.wait_for_load_state()
        assert "PASS" in page.locator("h1").inner_text()
        page.screenshot(path=str(SHOTS / "05-report.png"), full_page=False)

        page.goto(f"{ui.url}/plugin/replay-validation")
        # the UI shows the plugin's page in a frame: wait until it lists the run
        page.frame_locator("iframe").locator(f"tr[data-run-id='{run['dag_run_id']}']").wait_for()
        page.screenshot(path=str(SHOTS / "06-nav-page.png"))
        browser.close()
    folder = output_dir_for(None, run["dag_run_id"])
    report = json.loads((folder / "validation.json").read_text())
    assert report["run_id"] == run["dag_run_id"] and report["cpu_mem"]["matching"] == 14_400
    assert report["tolerance"] == 0.01 and report["cpu_mem"]["within_tolerance"] == 0  # the form's tolerance


def test_viewer_reads_runs_logs_and_reports_but_cannot_trigger_clear_or_change_connections(ui, operator_run):
    from playwright.sync_api import sync_playwright

    run_id = operator_run["dag_run_id"]
    tok = token(ui, "viewer")
    before = run_ids(ui, tok)  # the viewer lists runs
    assert run_id in before
    status, tis = api(ui, f"{RUNS}/{run_id}/taskInstances", tok)
    # both modes' paths, the branch, the review and blessing steps, the run's leaf
    assert status == 200 and len(tis["task_instances"]) == 12, status
    status, task_log = api(ui, f"{RUNS}/{run_id}/taskInstances/validate_output/logs/1", tok)
    assert status == 200 and "Validation passed" in json.dumps(task_log), status
    status, page = api(ui, "/replay-validation/", tok)
    assert status == 200 and f'data-run-id="{run_id}"' in page, status
    status, report = api(ui, f"/replay-validation/runs/{output_dir_for(None, run_id).name}/report", tok)
    assert status == 200 and f"Replay validation: {run_id}" in report, status

    assert api(ui, RUNS, tok, trigger_body({"seconds_per_group": 0}))[0] == 403
    assert api(ui, f"{RUNS}/{run_id}/clear", tok, {"dry_run": False, "only_failed": False})[0] == 403
    assert {what: api(ui, *call)[0] for what, call in connection_changes(tok).items()} == {
        what: 403 for what in connection_changes(tok)}

    # In the browser the Trigger button is there for everyone; the viewer's trigger is refused, and says so.
    with sync_playwright() as p:
        browser, page = log_in(p, ui, "viewer")
        dialog = open_trigger_form(page, ui)
        dialog.get_by_role("button", name="Trigger").click()
        page.get_by_text("Access Denied").first.wait_for()
        page.get_by_text("You do not have permission to perform this action.").first.wait_for()
        page.screenshot(path=str(SHOTS / "07-viewer-trigger-refused.png"))
        browser.close()
    assert run_ids(ui, tok) == before  # nothing was triggered or cleared
    status, run = api(ui, f"{RUNS}/{run_id}", tok)
    assert status == 200 and run["state"] == "success" and run["end_date"] == operator_run["end_date"]


def failed_record(folder: Path, run_id: str, dataset: str) -> None:
    """A failed run's validation.json and report.html in ``folder``, as validate_output writes them: of a (tiny)
    expected file's two windows, one's alert differs and the other's average by less than the 0.1 tolerance."""
    from include import reports
    from include.contract import CPU_MEM_HEADER, CPU_MEM_NUMERIC
    from include.formatting import csv_text
    from include.validation import RunValidation, compare

    rows = [("server_1", "10:00:00", "10:00:30", "50.5", "60", ""), ("server_2", "10:00:00", "10:00:30", "81", "13",
                                                                      "CPU spike suspected")]
    (folder / "expected.csv").write_text(csv_text(CPU_MEM_HEADER, rows))
    (folder / "cpu_mem.csv").write_text(csv_text(CPU_MEM_HEADER, [rows[0][:3] + ("50.55", "60", ""),
                                                                  rows[1][:5] + ("",)]))
    result = RunValidation(cpu_mem=compare(folder / "expected.csv", folder / "cpu_mem.csv", CPU_MEM_HEADER,
                                           CPU_MEM_NUMERIC, 0.1), net_disk=None, tolerance=0.1)
    result.write(folder / "validation.json", {"run_id": run_id, "validated_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                                                                              time.gmtime()),
                                              "duration_seconds": 31.0, "dataset": dataset, "mode": "batch"})
    reports.write(folder / "report.html", result.record(), folder / "cpu_mem.csv", run_id, 80.07, 89.36)


def test_replay_validation_page_filters_by_dataset_and_status_and_shows_trends(ui, operator_run):
    """The Replay validation page on the running stack, in Chromium, as the viewer: runs from both output roots
    (output/ and the temporary folder the tests allow), filtered with the page's form by dataset and status, each
    dataset's summary and trend plots drawn by plotly.js, and each row's links to its report, its run in the grid
    view and validate_output's log.

    Beside the operator's passing run of the default dataset (its links followed), a failed run of another
    dataset: its record, as validate_output writes it, in a folder of the second root (a real failing run would
    cost this module another minute; the e2e tests show validate_output records dataset, mode and tolerance)."""
    import shutil
    import tempfile
    from datetime import datetime, timedelta, timezone

    from playwright.sync_api import sync_playwright

    from include.paths import allowed_roots

    out = Path(tempfile.mkdtemp(prefix="replay-history-"))  # directly in the second output root
    assert [Path(r) for r in allowed_roots("output")][1] == out.parent
    other_dataset, failed_id = "data/recordings/*.csv", f"manual__history-check-{time.time_ns()}"
    failed_record(out, failed_id, other_dataset)
    default = operator_run["conf"].get("dataset_path") or "data/metrics.csv"  # the form's default
    run_id = operator_run["dag_run_id"]
    try:
        viewer = token(ui, "viewer")
        status, runs = api(ui, f"/replay-validation/api/runs?dataset={quote(other_dataset)}&status=fail", viewer)
        assert status == 200 and [r["run_id"] for r in runs] == [failed_id], runs
        assert runs[0]["root"] == 1 and runs[0]["links"]["report"] == f"runs/{out.name}/report?root=1"
        status, runs = api(ui, f"/replay-validation/api/runs?dataset={quote(default)}", viewer)
        assert status == 200 and run_id in [r["run_id"] for r in runs]
        assert {r["validation"]["dataset"] for r in runs} == {default}

        with sync_playwright() as p:
            browser, page = log_in(p, ui, "viewer")
            page.goto(f"{ui.url}/replay-validation/")
            form = page.locator("form.filters")
            form.locator("select[name=dataset]").select_option(other_dataset)
            form.locator("select[name=status]").select_option("fail")
            form.get_by_role("button", name="Filter").click()
            page.wait_for_url(lambda url: "/replay-validation/" in url and "status=fail" in url)
            rows = page.locator("tr[data-run-id]")
            assert rows.count() == 1 and rows.first.get_attribute("data-run-id") == failed_id
            assert rows.first.get_attribute("data-dataset") == other_dataset
            assert "FAIL" in rows.first.inner_text()
            assert rows.first.locator("td.cpu-mem").inner_text() == (
                "0/2 matching, 1 within tolerance, produced 2, missing 0, extra 0")
            summary = page.locator("table.datasets tr[data-dataset]")
            assert summary.count() == 1 and "0% (0/1)" in summary.first.locator("td.pass-rate").inner_text()
            assert "FAIL" in summary.first.locator("td.latest-status").inner_text()
            assert plotted(page, 1) == [1]
            page.screenshot(path=str(SHOTS / "08-history-failed-filter.png"), full_page=True)
            rows.first.get_by_role("link", name="report").click()
            page.wait_for_url(lambda url: url.endswith(f"/replay-validation/runs/{out.name}/report?root=1"))
            assert "FAIL" in page.locator("h1").inner_text() and failed_id in page.locator("h1").inner_text()
            page.go_back()

            # The default dataset's passing runs: the operator's among them, none failed, its plot over all its runs.
            form.locator("select[name=dataset]").select_option(default)
            form.locator("select[name=status]").select_option("pass")
            form.get_by_role("button", name="Filter").click()
            page.wait_for_url(lambda url: "status=pass" in url)
            row = page.locator(f"tr[data-run-id='{run_id}']")
            row.wait_for()
            statuses = {r.get_attribute("data-status") for r in page.locator("tr[data-run-id]").all()}
            datasets = {r.get_attribute("data-dataset") for r in page.locator("tr[data-run-id]").all()}
            assert statuses == {"pass"} and datasets == {default}, (statuses, datasets)
            runs_of_default = int(page.locator("table.datasets tr[data-dataset] td").nth(1).inner_text())
            assert plotted(page, 1) == [runs_of_default] and runs_of_default >= 1
            page.screenshot(path=str(SHOTS / "09-history-default-dataset.png"), full_page=True)

            # Its links: the run in the grid view, validate_output's log (the report link is the older test's).
            row.get_by_role("link", name="grid").click()
            grid = f"{ui.url}/dags/metrics_replay/runs/{quote(run_id, safe='')}"
            page.wait_for_url(lambda url: url.startswith(grid))
            page.get_by_text(run_id).first.wait_for()
            page.go_back()
            row.get_by_role("link", name="log").click()
            page.wait_for_url(lambda url: url.startswith(f"{grid}/tasks/validate_output"))
            page.get_by_text("Validation passed").first.wait_for(timeout=60_000)
            page.screenshot(path=str(SHOTS / "10-history-log-link.png"))
            page.go_back()

            # A date range that ends yesterday holds neither run.
            yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
            form.locator("input[name=until]").fill(yesterday)
            form.get_by_role("button", name="Filter").click()
            page.wait_for_url(lambda url: f"until={yesterday}" in url)
            assert page.locator(f"tr[data-run-id='{run_id}']").count() == 0
            days = [r.locator("td").nth(8).inner_text()[:10] for r in page.locator("tr[data-run-id]").all()]
            assert all(day <= yesterday for day in days), days
            browser.close()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def plotted(page, count: int) -> list[int]:
    """The page's trend plots (``count`` of them), once plotly.js has drawn them: the points each one's first
    series holds, which must be as many as its ``data-points`` (the dataset's runs)."""
    plots = page.locator("div.trend")
    assert plots.count() == count
    points = []
    for i in range(count):
        plot = plots.nth(i)
        plot.locator("svg.main-svg").first.wait_for()  # drawn
        drawn = plot.evaluate("el => el.data.map(trace => trace.x.length)")
        assert drawn and len(set(drawn)) == 1 and drawn[0] == int(plot.get_attribute("data-points")), drawn
        assert plot.evaluate("el => el.data.map(trace => trace.name)")[:3] == ["duration", "differing",
                                                                              "within tolerance"]
        points.append(drawn[0])
    return points


def test_operator_may_not_change_connections(ui):
    """The operator triggers and clears (the browser run above, and the REST runs below), but the Kafka
    connection, which decides where replays go and may hold a password, stays the op and admin roles' to see
    and change."""
    tok = token(ui, "operator")
    assert api(ui, "/api/v2/dags/metrics_replay", tok)[0] == 200
    assert {what: api(ui, *call)[0] for what, call in connection_changes(tok).items()} == {
        what: 403 for what in connection_changes(tok)}
    assert api(ui, "/api/v2/connections", token(ui))[0] == 200  # the admin may


# The same stack driven through the REST API, as a scheduler user or a script would: runs queued back to
# back, and a finished run cleared and run again by the real scheduler (LocalExecutor).

def trigger(ui, tok: str, conf: dict) -> str:
    status, body = api(ui, "/api/v2/dags/metrics_replay/dagRuns", tok, {"logical_date": None, "conf": conf})
    assert status == 200, (status, body)
    return body["dag_run_id"]


def wait_for_runs(ui, tok: str, run_ids: list[str], after: dict[str, str] | None = None,
                  timeout: float = 900) -> dict[str, dict]:
    """Each run's record once it has ended (and, given ``after``, ended later than that end_date)."""
    done: dict[str, dict] = {}

    def all_ended() -> bool:
        for run_id in set(run_ids) - set(done):
            status, run = api(ui, f"/api/v2/dags/metrics_replay/dagRuns/{run_id}", tok)
            if (status == 200 and run["state"] in ("success", "failed")
                    and (after is None or (run["end_date"] or "") > after[run_id])):
                done[run_id] = run
        return len(done) == len(run_ids)

    try:
        wait_until(all_ended, timeout, interval=1, what=f"runs {run_ids} to end")
    except WaitTimeout:
        pytest.fail(f"runs still going after {timeout:g} s: {set(run_ids) - set(done)}")
    return done


def run_files(run_id: str) -> dict[str, object]:
    folder = output_dir_for(None, run_id)
    return {"cpu_mem": (folder / "cpu_mem.csv").read_bytes(), "net_disk": (folder / "net_disk.csv").read_bytes(),
            "validation": json.loads((folder / "validation.json").read_text()),
            "manifest": json.loads((folder / "manifest.json").read_text())}


def before_in_every_partition(first: dict, then: dict) -> bool:
    """Every offset range ``first`` recorded ends where or before ``then``'s range of that partition starts."""
    pairs = [(first["offsets"][t][p], then["offsets"][t][p]) for t in then["offsets"] for p in then["offsets"][t]]
    return bool(pairs) and all(f[1] <= n[0] for f, n in pairs)


def when(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_back_to_back_runs_serialised_then_a_cleared_run_reruns_identically(ui):
    """Two runs triggered at once run one after the other (max_active_runs=1) and both validate; clearing
    the first afterwards makes the scheduler run all five tasks again: identical output and validation,
    although the topics now hold every replay's records."""
    from include.paths import DEFAULT_EXPECTED, DEFAULT_EXPECTED_NET_DISK

    tok = token(ui, "operator")  # the operator triggers and clears over REST
    wait_for_dag(ui, tok)
    first_id = trigger(ui, tok, {"seconds_per_group": 0})
    second_id = trigger(ui, tok, {"seconds_per_group": 0})
    runs = wait_for_runs(ui, tok, [first_id, second_id])
    assert {r["state"] for r in runs.values()} == {"success"}, runs
    earlier, later = sorted(runs.values(), key=lambda r: when(r["start_date"]))
    assert when(earlier["end_date"]) <= when(later["start_date"]), (earlier, later)  # serialised
    files = {run_id: run_files(run_id) for run_id in runs}
    for run_id, f in files.items():
        assert f["validation"]["passed"] is True and f["validation"]["run_id"] == run_id
        assert f["cpu_mem"] == DEFAULT_EXPECTED.read_bytes()
        assert f["net_disk"] == DEFAULT_EXPECTED_NET_DISK.read_bytes()
    # isolated: each read its own records, the later run's after the earlier one's
    a, b = (files[r["dag_run_id"]]["manifest"] for r in (earlier, later))
    assert before_in_every_partition(a, b), (a["offsets"], b["offsets"])

    status, body = api(ui, f"/api/v2/dags/metrics_replay/dagRuns/{first_id}/clear", tok,
                       {"dry_run": False, "only_failed": False})
    assert status == 200, (status, body)
    rerun = wait_for_runs(ui, tok, [first_id], after={first_id: runs[first_id]["end_date"]})[first_id]
    assert rerun["state"] == "success", rerun
    status, tis = api(ui, f"/api/v2/dags/metrics_replay/dagRuns/{first_id}/taskInstances", tok)
    # Every task of the batch path ran again; the live path's stayed skipped.
    ran = {ti["task_id"]: ti["try_number"] for ti in tis["task_instances"]
           if ti["state"] != "skipped" and ti["task_id"] != "keep_verdict"}  # an EmptyOperator: never run as such
    assert ran == {t: 2 for t in ("check_broker", "ensure_topics", "choose_mode", "produce_metrics",
                                  "window_metrics", "validate_output")}, tis
    assert {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}["keep_verdict"] == "success"
    # The live path, and the review of a failed validation (this one passed), stayed skipped.
    assert {ti["task_id"] for ti in tis["task_instances"] if ti["state"] == "skipped"} == {
        "start_stream", "produce_metrics_live", "window_metrics_live", "review_output", "bless_output"}
    again = run_files(first_id)
    before = files[first_id]
    assert again["cpu_mem"] == before["cpu_mem"] and again["net_disk"] == before["net_disk"]
    strip = lambda v: {k: v[k] for k in v if k not in ("validated_at", "duration_seconds")}  # noqa: E731
    assert strip(again["validation"]) == strip(before["validation"])
    assert again["manifest"]["attempt_id"] != before["manifest"]["attempt_id"]
    # the rerun's records came after both earlier replays' records in the same topics
    assert before_in_every_partition(b, again["manifest"]), (b["offsets"], again["manifest"]["offsets"])


# metrics_alerts on the same stack: alerts on topic-alerts become runs of the event-driven DAG (its triggerer
# watches the topic through kafka_default), whose task logs hold one line per alert.

def send(bootstrap: str, messages: list[tuple[bytes, bytes | None]]) -> list[int]:
    """Each (value, key) to topic-alerts, one at a time (so in this order); their offsets."""
    from confluent_kafka import Producer

    from include.contract import ALERTS_TOPIC
    from include.topics import ensure_topics

    config = {"bootstrap.servers": bootstrap}
    ensure_topics(config, [ALERTS_TOPIC], partitions=1, replication=1)  # as the replay's ensure_topics does
    delivered: list = []
    producer = Producer({**config, "acks": "all"})
    for value, key in messages:
        producer.produce(ALERTS_TOPIC, value=value, key=key, on_delivery=lambda err, msg: delivered.append((err, msg)))
        producer.flush(30)
    assert [err for err, _ in delivered] == [None] * len(messages), delivered
    return [msg.offset() for _, msg in delivered]


def publish_alerts(bootstrap: str, replay_run_id: str) -> list:
    """Alerts of replay run ``replay_run_id`` on topic-alerts, as live mode's streaming job publishes them (the
    AlertMessage text, key server_id); returns them.

    The one step to swap for a real live replay (returning the AlertMessages of its alerts.jsonl)."""
    from include.alerts import AlertMessage, utc_text

    alerts = [AlertMessage(run_id=replay_run_id, output="cpu_mem", server_id=f"server_{n}", window_start="20:52:20",
                           window_end="20:52:50", window_end_at="2026-11-25T20:52:50Z",
                           values={"avg_cpu": cpu, "avg_mem": 40.0}, alert="CPU spike suspected",
                           emitted_at=utc_text(1_700_000_000 + n)) for n, cpu in ((1, 86.12), (2, 90.5), (3, 99.0))]
    alerts.append(AlertMessage(run_id=replay_run_id, output="net_disk", server_id="server_7",
                               window_start="20:53:00", window_end="20:53:30", window_end_at="2026-11-25T20:53:30Z",
                               values={"max_net_in": 7000.0, "max_disk_io": 2000.0},
                               alert="Network flood + Disk thrash suspected", emitted_at=utc_text(1_700_000_009)))
    send(bootstrap, [(a.text().encode(), a.server_id.encode()) for a in alerts])
    return alerts


def task_log_lines(ui, tok: str, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
    status, body = api(ui, f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                       tok)
    assert status == 200, status
    return [entry.get("event", "") for entry in body["content"] if isinstance(entry, dict)]


def alert_asset_events(ui, tok: str) -> list[dict]:
    """The asset events of metrics_replay_alerts (the API's records, with the runs that consumed each)."""
    status, assets = api(ui, "/api/v2/assets?name_pattern=metrics_replay_alerts", tok)
    assert status == 200 and assets["total_entries"] == 1, (status, assets)
    status, events = api(ui, f"/api/v2/assets/events?asset_id={assets['assets'][0]['id']}&limit=1000", tok)
    assert status == 200, status
    return events["asset_events"]


def payload_of(event: dict) -> dict:
    return (event.get("extra") or {}).get("payload") or {}


def asset_events_text(ui, tok: str) -> str:
    """One line per asset event: id, time, the runs that consumed it, the alert's offset and replay run."""
    return "\n".join(f"  {e['id']} {e['timestamp']} runs {[r['run_id'] for r in e['created_dagruns']]} offset "
                     f"{payload_of(e).get('offset')} of {payload_of(e).get('alert', {}).get('run_id')}"
                     for e in alert_asset_events(ui, tok))


ALERT_WHERE = re.compile(r" \(topic-alerts partition \d+ offset \d+\)$")


def logged_alerts(ui, tok: str, before: set[str], replay_run_id: str, alerts: list) -> dict[str, list[str]]:
    """The ALERT lines of each metrics_alerts run started after ``before``, once every such run has succeeded
    and they hold every one of ``alerts`` (of replay ``replay_run_id``); asserts each alert is logged once, as
    alert_line writes it (where it was read, the line's last part, aside)."""
    from include.alerts import QueuedAlert, alert_line
    from include.contract import ALERTS_TOPIC

    def alerts_logged() -> dict[str, list[str]] | None:
        runs = [r for r in api(ui, "/api/v2/dags/metrics_alerts/dagRuns", tok)[1]["dag_runs"]
                if r["dag_run_id"] not in before]
        assert all(r["state"] != "failed" for r in runs), runs
        if not runs or any(r["state"] != "success" for r in runs):
            return None
        lines = {r["dag_run_id"]: [line for line in task_log_lines(ui, tok, "metrics_alerts", r["dag_run_id"],
                                                                   "log_alerts") if line.startswith("ALERT ")]
                 for r in runs}
        found = sum(1 for run_lines in lines.values() for line in run_lines if replay_run_id in line)
        return lines if found >= len(alerts) else None

    try:
        lines = wait_until(alerts_logged, 300, interval=2, what="metrics_alerts runs logging the published alerts")
    except WaitTimeout as exc:
        pytest.fail(f"{exc}; the asset events and the runs they started:\n{asset_events_text(ui, tok)}")
    logged = [line for run_lines in lines.values() for line in run_lines if replay_run_id in line]
    assert ALERT_WHERE.pattern.startswith(rf" \({ALERTS_TOPIC} ")
    assert all(ALERT_WHERE.search(line) for line in logged), logged
    assert sorted(ALERT_WHERE.sub("", line) for line in logged) == sorted(
        ALERT_WHERE.sub("", alert_line(QueuedAlert(topic=ALERTS_TOPIC, partition=0, offset=0, alert=a)))
        for a in alerts)
    return lines


def test_alerts_on_the_topic_become_logged_metrics_alerts_runs(ui, kafka_broker):
    """Alerts published to topic-alerts start metrics_alerts runs (an AssetWatcher's message-queue trigger on
    kafka_default); the runs succeed, and together their log_alerts logs hold each alert exactly once, with
    run id, output, server, window, values, alert and emitted_at. Messages that are no alert are logged by the
    triggerer with their offset and start no run."""
    from include.contract import ALERTS_TOPIC

    tok = token(ui)
    wait_until(lambda: api(ui, "/api/v2/dags/metrics_alerts", tok)[0] == 200, 120, interval=1,
               what="metrics_alerts to appear in the API")
    before = {r["dag_run_id"] for r in api(ui, "/api/v2/dags/metrics_alerts/dagRuns", tok)[1]["dag_runs"]}
    bad_offsets = send(kafka_broker.bootstrap, [(b"not json at all", None),
                                                (b'{"run_id": "x", "output": "cpu_mem"}', b"server_0")])
    replay_run_id = f"manual__alerts-test-{time.time_ns()}"
    alerts = publish_alerts(kafka_broker.bootstrap, replay_run_id)

    lines = logged_alerts(ui, tok, before, replay_run_id, alerts)
    logged = [line for run_lines in lines.values() for line in run_lines if replay_run_id in line]
    first = ("ALERT 'CPU spike suspected' on server_1 in cpu_mem window 20:52:20-20:52:50 (ends 2026-11-25T20:52:50Z): "
             f"avg_cpu=86.12 avg_mem=40.0; replay run {replay_run_id}, emitted 2023-11-14T22:13:21.000Z ")
    assert any(line.startswith(first) for line in logged), logged
    # each run says how many alerts it logged (XCom) and was started by as many asset events
    counts = {}
    for run_id in lines:
        status, entry = api(ui, f"/api/v2/dags/metrics_alerts/dagRuns/{run_id}/taskInstances/log_alerts/"
                                "xcomEntries/return_value", tok)
        assert status == 200, status
        counts[run_id] = int(entry["value"])
        status, events = api(ui, f"/api/v2/dags/metrics_alerts/dagRuns/{run_id}/upstreamAssetEvents", tok)
        assert status == 200 and events["total_entries"] == counts[run_id] == len(lines[run_id]), (events, counts)
    # every alert is one asset event, consumed by one of these runs
    ours = [e for e in alert_asset_events(ui, tok) if payload_of(e).get("alert", {}).get("run_id") == replay_run_id]
    assert len(ours) == len(alerts), asset_events_text(ui, tok)
    assert all(len(e["created_dagruns"]) == 1 and e["created_dagruns"][0]["run_id"] in lines for e in ours), \
        asset_events_text(ui, tok)
    # the bad messages: in the triggerer's log with topic and offset, in no run
    triggerer_log = (ui.home / "triggerer.log").read_text(errors="replace")
    for offset in bad_offsets:
        assert f"{ALERTS_TOPIC} partition 0 offset {offset}: not an alert message, skipped" in triggerer_log


def test_a_live_replay_on_the_stack_has_its_alerts_logged_by_metrics_alerts(ui, tmp_path):
    """Live mode on the running stack (LocalExecutor, scheduler, triggerer): a short recording replayed live
    at 4x recorded time validates, and each alert its streaming job published to topic-alerts becomes part of
    a metrics_alerts run that logs it exactly once."""
    from include.alerts import AlertMessage
    from include.contract import ALERTS_FILE

    dataset = generate.write_dataset(tmp_path / "short.csv", servers=2, samples=40, step=2, seed=11,
                                     net_disk=False)
    thresholds = {"cpu_threshold": 95.0, "mem_threshold": 100.0}
    expected = tmp_path / "short_expected.csv"
    reference.write_expected(dataset, expected, None, **thresholds)
    tok = token(ui)
    wait_for_dag(ui, tok)
    wait_until(lambda: api(ui, "/api/v2/dags/metrics_alerts", tok)[0] == 200, 120, interval=1,
               what="metrics_alerts to appear in the API")
    before = {r["dag_run_id"] for r in api(ui, "/api/v2/dags/metrics_alerts/dagRuns", tok)[1]["dag_runs"]}
    out = tmp_path / "live"
    run_id = trigger(ui, tok, {"mode": "live", "dataset_path": str(dataset), "expected_path": str(expected),
                               "expected_net_disk_path": None, "output_dir": str(out), "speed": 4, **thresholds})
    run = wait_for_runs(ui, tok, [run_id])[run_id]
    assert run["state"] == "success", run
    status, tis = api(ui, f"/api/v2/dags/metrics_replay/dagRuns/{run_id}/taskInstances", tok)
    ran = {ti["task_id"] for ti in tis["task_instances"] if ti["state"] == "success"}
    assert {"start_stream", "produce_metrics_live", "window_metrics_live", "validate_output"} <= ran, tis
    assert (out / "cpu_mem.csv").read_bytes() == expected.read_bytes()
    alerts = [AlertMessage.parse(line) for line in (out / ALERTS_FILE).read_text().splitlines()]
    assert len(alerts) == 6 and {a.run_id for a in alerts} == {run_id}
    logged_alerts(ui, tok, before, run_id, alerts)


# Blessing: a failed validation waits for a reviewer under Required actions (include/review.py); an approval
# makes the run's output the expected output (include/blessing.py), a rejection changes nothing. The expected
# files live in the test's own folder (a data root of the stack), never in data/.

REVIEW = "review_output"


def failing_replay(folder) -> tuple[dict, object]:
    """A short recording, its expected output at the default thresholds, and params that fail validation on
    it (a CPU threshold of 50 makes three more windows alert). Returns (conf, expected file)."""
    dataset = generate.write_dataset(folder / "short.csv", servers=2, samples=40, step=2, seed=11, net_disk=False)
    expected = folder / "short_expected.csv"
    reference.write_expected(dataset, expected, None)
    return ({"dataset_path": str(dataset), "expected_path": str(expected), "expected_net_disk_path": None,
             "seconds_per_group": 0, "cpu_threshold": 50.0}, expected)


def task_states(ui, tok: str, run_id: str) -> dict[str, str]:
    status, tis = api(ui, f"{RUNS}/{run_id}/taskInstances", tok)
    assert status == 200, status
    return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}


def wait_for_review(ui, tok: str, run_id: str) -> dict:
    """The run's review step once it waits for an answer: its HITL detail, as the REST API gives it."""
    def waiting() -> bool:
        states = task_states(ui, tok, run_id)
        assert states.get("validate_output") not in ("success", "upstream_failed"), states
        return states.get(REVIEW) == "awaiting_input"

    wait_until(waiting, 600, interval=1, what=f"{run_id}'s review step to wait for an answer")
    status, detail = api(ui, f"{RUNS}/{run_id}/taskInstances/{REVIEW}/-1/hitlDetails", tok)
    assert status == 200, status
    return detail


def answer_in_the_browser(ui, run_id: str, user: str, button: str, comment: str, shot: str) -> None:
    """``user`` opens the run's Required action in Chromium, writes ``comment`` and presses ``button``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = log_in(p, ui, user)
        page.goto(f"{ui.url}/dags/metrics_replay/runs/{run_id}/tasks/{REVIEW}/required_actions")
        page.get_by_text("as the new expected output?").first.wait_for()
        page.get_by_text("mismatched values alert=3").first.wait_for()  # the body: what would change
        page.locator("[name=element_comment]").fill(comment)
        page.screenshot(path=str(SHOTS / f"{shot}-review.png"), full_page=True)
        page.get_by_role("button", name=button).click()
        # The answer is recorded: the page says so and by whom (the API below waits for the run itself).
        page.get_by_text(re.compile(rf"Response received at .* from {user}")).first.wait_for()
        assert page.locator("[name=element_comment]").input_value() == comment
        page.screenshot(path=str(SHOTS / f"{shot}-answered.png"), full_page=True)
        browser.close()


def files_in(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_failed_run_waits_for_review_an_approval_blesses_its_output_and_a_rerun_passes(ui, tmp_path):
    from include import blessing

    SHOTS.mkdir(parents=True, exist_ok=True)
    conf, expected = failing_replay(tmp_path)
    old = expected.read_bytes()
    tok = token(ui, "operator")
    wait_for_dag(ui, tok)
    run_id = trigger(ui, tok, conf)
    detail = wait_for_review(ui, tok, run_id)
    assert detail["options"] == ["Approve", "Reject"] and detail["defaults"] == ["Reject"]
    assert "**cpu_mem**: 13 of 16 expected rows match; produced 16, missing 0, extra 0, mismatched values alert=3." \
        in detail["body"], detail["body"]
    assert api(ui, f"{RUNS}/{run_id}", tok)[1]["state"] == "running"  # waiting, not failed yet
    assert expected.read_bytes() == old
    # A viewer may read the question but not answer it.
    viewer = token(ui, "viewer")
    assert api(ui, f"{RUNS}/{run_id}/taskInstances/{REVIEW}/-1/hitlDetails", viewer)[0] == 200
    assert api(ui, f"{RUNS}/{run_id}/taskInstances/{REVIEW}/-1/hitlDetails", viewer,
               {"chosen_options": ["Approve"], "params_input": {"comment": "me too"}}, "PATCH")[0] == 403

    comment = "CPU alerts from 50 % on, as agreed with ops"
    answer_in_the_browser(ui, run_id, "operator", "Approve", comment, "08-bless")
    run = wait_for_runs(ui, tok, [run_id])[run_id]
    assert run["state"] == "failed", run  # the verdict stays: this run's output differed
    states = task_states(ui, tok, run_id)
    assert {t: states[t] for t in ("validate_output", REVIEW, "bless_output", "keep_verdict")} == {
        "validate_output": "failed", REVIEW: "success", "bless_output": "success", "keep_verdict": "upstream_failed"}
    produced = output_dir_for(None, run_id) / "cpu_mem.csv"
    assert expected.read_bytes() == produced.read_bytes() != old
    assert (tmp_path / "short_expected.v1.csv").read_bytes() == old
    [record] = blessing.read_history(blessing.history_path(expected))
    validation = json.loads((output_dir_for(None, run_id) / "validation.json").read_text())["cpu_mem"]
    assert (record.approved_by, record.comment, record.run_id, record.output) == (
        "operator", comment, run_id, "cpu_mem")
    assert (record.matching, record.expected_rows, record.produced_rows, record.mismatches) == (
        validation["matching"], validation["expected_rows"], validation["produced_rows"], 3)
    assert record.previous_version == str(tmp_path / "short_expected.v1.csv")

    # The Replay validation page shows the record.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = log_in(p, ui, "viewer")
        page.goto(f"{ui.url}/replay-validation/")
        row = page.locator(f"tr.blessing[data-run-id='{run_id}']")
        assert row.locator("td.approved-by").inner_text() == "operator"
        assert row.locator("td.comment").inner_text() == comment
        assert row.locator("td.counts").inner_text() == ("13/16 matching, produced 16, missing 0, extra 0, "
                                                         "3 mismatched values")
        page.screenshot(path=str(SHOTS / "08-bless-page.png"), full_page=True)
        browser.close()

    # The same params again: the blessed output is now the expected one.
    rerun_id = trigger(ui, tok, conf)
    rerun = wait_for_runs(ui, tok, [rerun_id])[rerun_id]
    assert rerun["state"] == "success", rerun
    assert task_states(ui, tok, rerun_id)[REVIEW] == "skipped"
    assert json.loads((output_dir_for(None, rerun_id) / "validation.json").read_text())["passed"] is True
    assert len(blessing.read_history(blessing.history_path(expected))) == 1


def test_a_rejected_review_leaves_everything_as_it_was(ui, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    conf, expected = failing_replay(tmp_path)
    before = files_in(tmp_path)
    tok = token(ui, "operator")
    wait_for_dag(ui, tok)
    run_id = trigger(ui, tok, conf)
    wait_for_review(ui, tok, run_id)
    answer_in_the_browser(ui, run_id, "operator", "Reject", "not intended: the threshold must stay", "09-reject")
    run = wait_for_runs(ui, tok, [run_id])[run_id]
    assert run["state"] == "failed", run
    states = task_states(ui, tok, run_id)
    assert {t: states[t] for t in ("validate_output", REVIEW, "bless_output", "keep_verdict")} == {
        "validate_output": "failed", REVIEW: "success", "bless_output": "skipped", "keep_verdict": "upstream_failed"}
    assert files_in(tmp_path) == before  # no replacement, no version, no history
