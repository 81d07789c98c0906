"""The "Replay validation" page in the Airflow 3 UI: every replay's result and its report.

A FastAPI app mounted in Airflow's API server, shown in the UI's navigation as an external view. Airflow
does not authenticate plugin apps, so every route here requires what the UI requires to read metrics_replay's
runs, through the dependency Airflow documents for plugin apps (``requires_access_dag``): a valid Airflow token
(the UI's session cookie or a Bearer header), else 401; a user who may not read those runs, 403.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from include.contract import REPORT_FILE
from include.paths import OUTPUT_DIR

DAG_ID = "metrics_replay"
URL_PREFIX = "/replay-validation"

# No route here carries a dag_id, so the DAG is named explicitly: requires_access_dag would otherwise look
# for one in the path or query and, finding none, check access to DAGs in general rather than to this one.
require_run_access = requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN, param_dag_id=DAG_ID)


def _reports():
    """include.reports, imported when a page is asked for: Airflow imports every plugin wherever it deserializes
    a DAG (the scheduler, each task's start), and this page's code is needed only by the API server."""
    from include import reports

    return reports


def output_root() -> Path:
    """Where the run folders are (a dependency, so a test can point the page at its own folder)."""
    return OUTPUT_DIR


app = FastAPI(title="Replay validation", dependencies=[Depends(require_run_access)])


@app.get("/", response_class=HTMLResponse)
def runs_page(root: Path = Depends(output_root)) -> str:
    reports = _reports()
    return reports.runs_page(reports.list_runs(root))


@app.get("/api/runs")
def runs_json(root: Path = Depends(output_root)) -> list[dict]:
    return [r.to_json() for r in _reports().list_runs(root)]


@app.get("/runs/{folder}/report")
def run_report(folder: str, root: Path = Depends(output_root)) -> FileResponse:
    # Only folders the listing knows are served: no path from the URL reaches the file system.
    known = {r.folder: r for r in _reports().list_runs(root)}
    if folder not in known or not known[folder].has_report:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report for run folder {folder!r}")
    return FileResponse(root / known[folder].folder / REPORT_FILE, media_type="text/html")


class ReplayValidationPlugin(AirflowPlugin):
    name = "replay_validation"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Replay validation"}]
    external_views = [{"name": "Replay validation", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "category": "browse", "url_route": "replay-validation"}]
