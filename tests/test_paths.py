"""Path params are confined to their roots: '..', absolute paths and symlinks cannot lead out.

The roots here are real folders in a temporary tree; the last test shows the DAG refusing such a path
before anything touches Kafka.
"""

from __future__ import annotations

import os

import pytest

from include.params import ParamError, check, replay_params
from include.paths import DATA_ROOTS_ENV, OUTPUT_ROOTS_ENV, PathNotAllowed, confined
from dag_module import step_states


@pytest.fixture
def roots(tmp_path, monkeypatch):
    data, output, outside = tmp_path / "data", tmp_path / "output", tmp_path / "outside"
    for d in (data, output, outside):
        d.mkdir()
    (data / "day.csv").write_text("server_id,timestamp,cpu_pct,mem_pct\n")
    (outside / "secret.csv").write_text("not yours\n")
    monkeypatch.setenv(DATA_ROOTS_ENV, str(data))
    monkeypatch.setenv(OUTPUT_ROOTS_ENV, str(output))
    return data, output, outside


def test_paths_inside_the_roots_are_allowed(roots):
    data, output, _ = roots
    assert confined(data / "day.csv", "dataset_path", "data") == (data / "day.csv").resolve()
    assert confined(data / "sub" / ".." / "day.csv", "dataset_path", "data") == (data / "day.csv").resolve()
    assert confined(output / "new run", "output_dir", "output") == (output / "new run").resolve()
    os.symlink(data / "day.csv", data / "alias.csv")  # a symlink that stays inside is fine
    assert confined(data / "alias.csv", "dataset_path", "data") == (data / "day.csv").resolve()


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlinked folder", "other root"])
def test_escapes_are_refused_naming_the_param_and_the_roots(roots, how):
    data, output, outside = roots
    if how == "dotdot":
        path = f"{data}/../outside/secret.csv"
    elif how == "absolute":
        path = "/etc/passwd"
    elif how == "symlink":
        os.symlink(outside / "secret.csv", data / "innocent.csv")
        path = str(data / "innocent.csv")
    elif how == "symlinked folder":
        os.symlink(outside, data / "more")
        path = str(data / "more" / "secret.csv")
    else:  # an output folder is not a place to read inputs from, nor the data folder one to write to
        with pytest.raises(PathNotAllowed, match="output_dir"):
            confined(data / "run", "output_dir", "output")
        path = str(output / "x.csv")
    with pytest.raises(PathNotAllowed) as err:
        confined(path, "expected_path", "data")
    message = str(err.value)
    assert "expected_path" in message and str(data) in message and DATA_ROOTS_ENV in message, message


def test_output_dir_cannot_escape(roots):
    _, output, outside = roots
    for path in (f"{output}/../outside", str(outside), "/tmp"):
        with pytest.raises(PathNotAllowed, match="output_dir"):
            confined(path, "output_dir", "output")
    os.symlink(outside, output / "link")
    with pytest.raises(PathNotAllowed, match="resolves to"):
        confined(output / "link" / "run", "output_dir", "output")


def test_param_check_refuses_every_path_param(roots):
    data, output, outside = roots
    params = {name: p.value for name, p in replay_params().items()}
    params.update(dataset_path=str(data / "day.csv"), expected_path=str(data / "day.csv"),
                  expected_net_disk_path=None, output_dir=str(output / "run"))
    check(params)
    for name, bad in (("dataset_path", "/etc/passwd"), ("expected_path", f"{data}/../outside/secret.csv"),
                      ("expected_net_disk_path", str(outside / "secret.csv")), ("output_dir", str(outside))):
        with pytest.raises(ParamError, match=name):
            check({**params, name: bad})


def test_default_roots_are_the_projects_data_and_output(monkeypatch):
    from include.paths import DATA_DIR, DEFAULT_DATASET, OUTPUT_DIR

    monkeypatch.delenv(DATA_ROOTS_ENV, raising=False)
    monkeypatch.delenv(OUTPUT_ROOTS_ENV, raising=False)
    assert confined("data/metrics.csv", "dataset_path", "data") == DEFAULT_DATASET.resolve()
    assert confined("output/some-run", "output_dir", "output") == (OUTPUT_DIR / "some-run").resolve()
    for path in ("data/../pyproject.toml", "../shared/data/expected mem.csv", "/etc/passwd"):
        with pytest.raises(PathNotAllowed, match=str(DATA_DIR)):
            confined(path, "dataset_path", "data")


@pytest.mark.e2e
def test_dag_refuses_an_escaping_path_before_kafka(tmp_path, roots, airflow_db, airflow_connections, capfd):
    from devtools.cli import run_dag

    data, output, outside = roots
    dr, _ = run_dag({"dataset_path": f"{data}/../outside/secret.csv", "output_dir": str(output / "run"),
                     "seconds_per_group": 0})
    states = step_states(dr)
    assert states["check_broker"] == "failed", states
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert tis["check_broker"].try_number == 1  # refused for good, not retried
    assert all(states[t] == "upstream_failed"
               for t in ("ensure_topics", "produce_metrics", "window_metrics", "validate_output")), states
    assert not (output / "run").exists()
    logged = capfd.readouterr()
    assert "params rejected: dataset_path" in logged.out + logged.err
    assert "is outside the allowed data folders" in logged.out + logged.err
