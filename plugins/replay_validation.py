"""The "Replay validation" page in the Airflow 3 UI: every replay's result and its report.

A FastAPI app mounted in Airflow's API server, shown in the UI's navigation as an external view. Airflow
does not authenticate plugin apps, so every route here requires the same thing the UI does: a valid
Airflow token (the UI's session cookie or a Bearer header) whose user may read metrics_replay's runs.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from airflow.plugins_manager import AirflowPlugin
from include import reports
from include.paths import OUTPUT_DIR

DAG_ID = "metrics_replay"
URL_PREFIX = "/replay-validation"


async def require_run_access(request: Request):
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user, oauth2_scheme

    user = await get_user(request, await oauth2_scheme(request), await bearer_scheme(request))
    allowed = get_auth_manager().is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN,
                                                   details=DagDetails(id=DAG_ID), user=user)
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to read {DAG_ID} runs")
    return user


app = FastAPI(title="Replay validation", dependencies=[Depends(require_run_access)])


@app.get("/", response_class=HTMLResponse)
def runs_page() -> str:
    return reports.runs_page(reports.list_runs(OUTPUT_DIR))


@app.get("/api/runs")
def runs_json() -> JSONResponse:
    return JSONResponse([r.__dict__ for r in reports.list_runs(OUTPUT_DIR)])


@app.get("/runs/{folder}/report")
def run_report(folder: str) -> FileResponse:
    # Only folders the listing knows are served: no path from the URL reaches the file system.
    known = {r.folder: r for r in reports.list_runs(OUTPUT_DIR)}
    if folder not in known or not known[folder].has_report:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report for run folder {folder!r}")
    return FileResponse(OUTPUT_DIR / folder / reports.REPORT_FILE, media_type="text/html")


class ReplayValidationPlugin(AirflowPlugin):
    name = "replay_validation"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Replay validation"}]
    external_views = [{"name": "Replay validation", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "category": "browse", "url_route": "replay-validation"}]
