"""devtools.execution_api: dag.test()'s in-process execution API built for the task SDK's version only (every
end-to-end test's dag.test() runs through it; these check the app itself)."""

from __future__ import annotations

import httpx
import pytest

from devtools import execution_api

pytestmark = pytest.mark.usefixtures("airflow_db")


def client(api, version: str) -> httpx.Client:
    return httpx.Client(transport=api.transport, base_url="http://in-process/", headers={"airflow-api-version": version})


def test_the_app_serves_the_task_sdk_version_alone_and_airflow_keeps_its_own_bundle():
    from airflow.api_fastapi.execution_api import routes, versions
    from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI
    from airflow.sdk.api.datamodels._generated import API_VERSION

    bundle, router = versions.bundle, routes.execution_api_router
    older = [v.value for v in bundle.versions[1:]]
    assert older, "Airflow serves older versions too: nothing would be saved"
    api = InProcessExecutionAPI()
    with execution_api.newest_version_only() as version:
        assert version == API_VERSION
        app = api.app
    assert (versions.bundle, routes.execution_api_router) == (bundle, router)
    assert [v.value for v in app.versions.versions] == [API_VERSION]
    with client(api, API_VERSION) as http:
        assert http.get("/health/ping").status_code == 200
        missing = http.get("/variables/no_such_variable")
        assert missing.status_code == 404 and "no_such_variable" in missing.text  # the route answered it
    with client(api, older[-1]) as http:  # an older client is refused, not answered in the newest shape
        assert http.get("/health/ping").status_code != 200


def test_prepare_builds_the_cached_app_once():
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    in_process_api_server.cache_clear()
    assert execution_api.prepare() is True
    assert [v.value for v in in_process_api_server().app.versions.versions] == [API_VERSION]
    assert execution_api.prepare() is False  # this process's later runs reuse it
