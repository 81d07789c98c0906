"""The "Replay validation" page in the Airflow 3 UI: every replay's result, each dataset's history and trends,
and each run's report. Its FastAPI app (include/replay_page.py) is mounted in Airflow's API server and shown in
the UI's navigation as an external view.

Every process that loads plugins imports this file, not only the API server: dag.test() and a worker do, for
operator extra links. The app's access checks import Airflow's core API, 0.4 s that all of them paid before
the first task (bench/, row 4g). So the app is imported on its first request instead (ReplayPageApp).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from include.contract import REPLAY_VALIDATION_URL_PREFIX

URL_PREFIX = REPLAY_VALIDATION_URL_PREFIX


class ReplayPageApp:
    """An ASGI app that hands every request to include.replay_page's FastAPI app, imported on the first."""

    async def __call__(self, scope, receive, send) -> None:
        from include.replay_page import app

        await app(scope, receive, send)


class ReplayValidationPlugin(AirflowPlugin):
    name = "replay_validation"
    fastapi_apps = [{"app": ReplayPageApp(), "url_prefix": URL_PREFIX, "name": "Replay validation"}]
    external_views = [{"name": "Replay validation", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "category": "browse", "url_route": "replay-validation"}]
