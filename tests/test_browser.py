"""A person's flow in the Airflow UI, in headless Chromium (Debian's), driven by Playwright.

The stack is what `make up` starts (api-server, scheduler, dag-processor, triggerer, real broker), on free
ports. Screenshots of each step go to output/browser-test/ in the project.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
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


def api(ui, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"{ui.url}{path}", method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def token(ui) -> str:
    status, body = api(ui, "/auth/token", body={"username": "admin", "password": ui.password})
    assert status in (200, 201), status
    return body["access_token"]


def test_no_well_known_password_and_api_refuses_anonymous(ui):
    assert ui.password_generated and len(ui.password) >= 12 and ui.password not in ("admin", "airflow")
    assert api(ui, "/api/v2/dags")[0] == 401
    assert api(ui, "/auth/token", body={"username": "admin", "password": "admin"})[0] in (401, 403)
    assert api(ui, "/replay-validation/api/runs")[0] == 401  # the plugin page follows the same rule
    assert api(ui, "/api/v2/dags", token(ui))[0] == 200


def wait_for_dag(ui, tok: str, timeout: float = 120) -> None:
    wait_until(lambda: api(ui, "/api/v2/dags/metrics_replay", tok)[0] == 200, timeout, interval=1,
               what="metrics_replay to appear in the API")


def fill(dialog, param: str, value: str) -> None:
    """Type into the trigger form's field of ``param`` (the form names inputs element_<param>)."""
    box = dialog.locator(f"input[name=element_{param}]")
    box.fill(value)
    box.press("Tab")  # number inputs commit on blur


def test_trigger_follow_and_read_the_result(ui, tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    expected = tmp_path / "expected_cpu70.csv"
    ds = reference.write_expected(DEFAULT_DATASET, expected, None, cpu_threshold=70.0)
    assert ds.rows == 28_800
    tok = token(ui)
    wait_for_dag(ui, tok)
    before = {r["dag_run_id"] for r in api(ui, "/api/v2/dags/metrics_replay/dagRuns", tok)[1]["dag_runs"]}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{ui.url}/")
        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill(ui.password)
        page.screenshot(path=str(SHOTS / "01-login.png"))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{ui.url}/")

        page.goto(f"{ui.url}/dags/metrics_replay")
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Run Parameters").wait_for()
        fill(dialog, "seconds_per_group", "0")
        fill(dialog, "cpu_threshold", "70")
        fill(dialog, "expected_path", str(expected))
        page.screenshot(path=str(SHOTS / "02-trigger-form.png"), full_page=True)
        dialog.get_by_role("button", name="Trigger").click()

        # Follow the run until it ends (the API says when; the grid shows it).
        def ended_run() -> dict | None:
            runs = api(ui, "/api/v2/dags/metrics_replay/dagRuns", tok)[1]["dag_runs"]
            new = [r for r in runs if r["dag_run_id"] not in before]
            return new[0] if new and new[0]["state"] in ("success", "failed") else None

        run = wait_until(ended_run, 600, interval=1, what="the triggered run to end")
        assert run["conf"]["cpu_threshold"] == 70 and run["conf"]["seconds_per_group"] == 0
        page.goto(f"{ui.url}/dags/metrics_replay/runs/{run['dag_run_id']}")
        page.get_by_text(run["dag_run_id"]).first.wait_for()  # the run's page has rendered
        page.screenshot(path=str(SHOTS / "03-run.png"))
        assert run["state"] == "success", run

        status, entry = api(ui, f"/api/v2/dags/metrics_replay/dagRuns/{run['dag_run_id']}/taskInstances/"
                                "validate_output/xcomEntries/validation_summary", tok)
        assert status == 200, status
        # The API returns the stored (serialized) form; read it as text.
        xcom_text = entry["value"] if isinstance(entry["value"], str) else json.dumps(entry["value"])
        assert re.search(r"passed\W+(true|True)", xcom_text), xcom_text[:500]
        assert "matching 14400" in xcom_text, xcom_text[:500]

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

    tok = token(ui)
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
    assert {ti["task_id"]: ti["try_number"] for ti in tis["task_instances"]} == {
        t: 2 for t in ("check_broker", "ensure_topics", "produce_metrics", "window_metrics", "validate_output")}
    again = run_files(first_id)
    before = files[first_id]
    assert again["cpu_mem"] == before["cpu_mem"] and again["net_disk"] == before["net_disk"]
    strip = lambda v: {k: v[k] for k in v if k not in ("validated_at", "duration_seconds")}  # noqa: E731
    assert strip(again["validation"]) == strip(before["validation"])
    assert again["manifest"]["attempt_id"] != before["manifest"]["attempt_id"]
    # the rerun's records came after both earlier replays' records in the same topics
    assert before_in_every_partition(b, again["manifest"]), (b["offsets"], again["manifest"]["offsets"])
