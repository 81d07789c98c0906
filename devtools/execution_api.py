"""dag.test()'s in-process execution API, built for the one API version its client speaks.

dag.test() runs each task in this process and answers the task's calls (XComs, connections, states) with
Airflow's execution API app, built on the first task's first call (airflow.sdk.execution_time.supervisor's
``in_process_api_server``, cached for the process). That app is a Cadwyn app: on its first request it
generates the routes and schemas of every API version Airflow still serves to older workers, nine in
Airflow 3.3, which took 3.4 s of every `make run` (bench/ row 4wf), more than the warm Spark job itself. The
only client of the in-process app is this process's task SDK, which speaks the newest version
(``API_VERSION``); a deployment's API server, built once at its start, still serves them all.

``prepare()`` builds that app before dag.test() calls it, from the newest version alone (and without the
routes that exist only in older versions): its first request then takes about 0.5 s. The app's behaviour for
the newest version is the same app's (same routes, same overrides Airflow sets up); a request in another
version is refused (404), never answered in the wrong shape. When Airflow's newest version is not the
client's, nothing is changed and the app is built as Airflow builds it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def newest_version_only() -> Iterator[str]:
    """While open, a new execution API app (create_task_execution_api_app) serves only the task SDK's
    version, which it yields; Airflow's own version bundle and router are put back on exit. Raises
    RuntimeError when Airflow's newest version is not the task SDK's (the app would refuse the client)."""
    from cadwyn import HeadVersion, Version, VersionBundle
    from cadwyn.route_generation import _DELETED_ROUTE_TAG
    from fastapi.routing import APIRoute, APIRouter

    from airflow.api_fastapi.execution_api import routes, versions
    from airflow.sdk.api.datamodels._generated import API_VERSION

    bundle, router = versions.bundle, routes.execution_api_router
    newest = bundle.versions[0].value
    if newest != API_VERSION:
        raise RuntimeError(f"the execution API's newest version is {newest}, the task SDK speaks {API_VERSION}")
    current = APIRouter()
    # Routes kept only for older clients (Cadwyn marks them deleted in the newest version) are left out: with
    # no older version to restore them in, Cadwyn refuses them.
    current.routes = [r for r in router.routes if not (isinstance(r, APIRoute) and _DELETED_ROUTE_TAG in r.tags)]
    versions.bundle = VersionBundle(HeadVersion(), Version(API_VERSION))
    routes.execution_api_router = current
    try:
        yield API_VERSION
    finally:
        versions.bundle, routes.execution_api_router = bundle, router


def prepare() -> bool:
    """Build dag.test()'s in-process execution API app for the newest version only, unless this process
    has built it already (an earlier run); returns whether it was built here."""
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    if in_process_api_server.cache_info().currsize:
        return False
    api = in_process_api_server()
    try:
        with newest_version_only() as version:
            api.app  # noqa: B018 (the cached property builds the app, with the version bundle of now)
    except RuntimeError as exc:
        log.warning("in-process execution API built with every version: %s", exc)
        api.app  # noqa: B018
        return True
    log.debug("in-process execution API built for version %s only", version)
    return True
