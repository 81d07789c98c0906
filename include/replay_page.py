"""The "Replay validation" page's FastAPI app: every replay's result, each dataset's history and trends, and each
run's report (include/history.py renders them). plugins/replay_validation.py mounts it in Airflow's API server
and shows it in the UI's navigation; it imports this module on the page's first request. Airflow
does not authenticate plugin apps, so every route here requires what the UI requires to read metrics_replay's
runs, through the dependency Airflow documents for plugin apps (``requires_access_dag``): a valid Airflow token
(the UI's session cookie or a Bearer header), else 401; a user who may not read those runs, 403.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Response
from fastapi import status as http_status
from fastapi.responses import FileResponse, HTMLResponse

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from include import blessing, history
from include.contract import REPORT_FILE
from include.paths import allowed_roots

DAG_ID = history.DAG_ID

# No route here carries a dag_id, so the DAG is named explicitly: requires_access_dag would otherwise look
# for one in the path or query and, finding none, check access to DAGs in general rather than to this one.
require_run_access = requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN, param_dag_id=DAG_ID)


def output_roots() -> list[Path]:
    """Where the run folders are: every output root the deployment allows (a dependency, so a test can point
    the page at its own folders)."""
    return allowed_roots("output")


app = FastAPI(title="Replay validation", dependencies=[Depends(require_run_access)])


def run_filter(dataset: str | None = None, status: str | None = None, since: str | None = None,
               until: str | None = None) -> history.RunFilter:
    """The page's filters from its query; empty values (as the form sends them) mean any. 400 naming the
    parameter of a value that cannot be used."""
    try:
        return history.RunFilter.parse(dataset, status, since, until)
    except history.FilterError as exc:
        raise HTTPException(http_status.HTTP_400_BAD_REQUEST, str(exc)) from None


PageNumber = Query(1, ge=1)
PerPage = Query(history.PER_PAGE, ge=1, le=history.MAX_PER_PAGE)


@app.get("/", response_class=HTMLResponse)
def runs_page(f: history.RunFilter = Depends(run_filter), page: int = PageNumber, per_page: int = PerPage,
              roots: list[Path] = Depends(output_roots)) -> str:
    return history.runs_page(history.list_runs(roots), f, page, per_page)


@app.get("/api/blessings")
def blessings_json(roots: list[Path] = Depends(output_roots)) -> dict:
    """The audit records of every blessing of the listed runs' (and the default) expected files, newest first."""
    found = blessing.histories(history.expected_files(history.list_runs(roots)))
    return {"records": [r.model_dump(mode="json") for r in found.records], "problems": found.problems}


@app.get("/api/runs")
def runs_json(response: Response, f: history.RunFilter = Depends(run_filter), page: int = PageNumber,
              per_page: int = PerPage, roots: list[Path] = Depends(output_roots)) -> list[dict]:
    """One page of the filtered runs, newest first; X-Total-Count says how many match in all."""
    shown = history.paginate(f.apply(history.list_runs(roots)), page, per_page)
    response.headers["X-Total-Count"] = str(shown.total)
    return [r.to_json() for r in shown.rows]


@app.get("/api/datasets")
def datasets_json(f: history.RunFilter = Depends(run_filter), roots: list[Path] = Depends(output_roots)) -> list[dict]:
    """Per dataset (of the filter's dataset and dates, any status): runs, pass rate, latest, trend points."""
    return [s.to_json() for s in history.summarize(f.without_status().apply(history.list_runs(roots)))]


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # the same plotly.js the reports embed

    return get_plotlyjs()


@app.get("/plotly.min.js")
def plotly_js() -> Response:
    # Served once and cached by the browser, rather than 4 MB inlined into every page view.
    return Response(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "private, max-age=86400"})


@app.get("/runs/{folder}/report")
def run_report(folder: str, root: int = Query(0, ge=0), roots: list[Path] = Depends(output_roots)) -> FileResponse:
    # Only folders the listing knows are served: no path from the URL reaches the file system.
    known = {(r.root, r.folder): r for r in history.list_runs(roots)}
    row = known.get((root, folder))
    if row is None or not row.has_report:
        raise HTTPException(http_status.HTTP_404_NOT_FOUND, f"no report for run folder {folder!r}")
    return FileResponse(roots[root] / row.folder / REPORT_FILE, media_type="text/html")
