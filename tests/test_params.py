"""Param checks that span params, with messages that name the param."""

from __future__ import annotations

import pytest

from include.params import ParamError, check, replay_params
from include.paths import DEFAULT_DATASET, DEFAULT_EXPECTED


def defaults() -> dict:
    return {name: p.value for name, p in replay_params().items()}


def test_defaults_pass():
    check(defaults())


def test_new_params_default_to_todays_behaviour():
    d = defaults()
    assert d["speed"] is None and d["recording_start"] is None and d["time_shift"] == "none"
    assert d["seconds_per_group"] == 1.0  # the nightly pace is unchanged while speed is empty


@pytest.mark.parametrize("change,named", [
    ({"slide_seconds": 40}, "slide_seconds"),
    ({"window_seconds": 25}, "window_seconds"),
    ({"seconds_per_group": -1}, "seconds_per_group"),
    ({"speed": -2}, "speed"),
    ({"speed": "fast"}, "speed"),
    ({"time_shift": "later"}, "time_shift"),
    ({"recording_start": "yesterday evening"}, "recording_start"),
    ({"recording_start": "2024-03-01T20:52:00.5Z"}, "recording_start: .*fraction of a second"),
    ({"recording_start": "2024-02-30T20:52:00"}, "recording_start"),
    ({"dataset_path": "data/no-such.csv"}, "dataset_path"),
    ({"dataset_path": "data/no-such-folder/*.csv"}, "dataset_path: .*no file matches"),
    ({"expected_path": "data/no-such.csv"}, "expected_path"),
])
def test_impossible_combinations_are_refused_naming_the_param(change, named):
    with pytest.raises(ParamError, match=named):
        check({**defaults(), **change})


@pytest.mark.parametrize("change", [
    {"speed": 0}, {"speed": 50}, {"speed": 0.5}, {"time_shift": "now"},
    {"recording_start": "2024-03-01T20:52"}, {"recording_start": "2024-03-01 20:52:00+02:00"},
    {"recording_start": "  "},
])
def test_good_new_params_pass(change):
    check({**defaults(), **change})


def test_dataset_folder_and_glob_are_checked_file_by_file(tmp_path, monkeypatch):
    data, outside = tmp_path / "data", tmp_path / "elsewhere"
    (data / "rec").mkdir(parents=True)
    outside.mkdir()
    for name in ("a.csv", "b.csv"):
        (data / "rec" / name).write_text("server_id,timestamp,cpu_pct,mem_pct\ns,00:00:00,1,2\n")
    (data / "empty").mkdir()
    monkeypatch.setenv("METRICS_REPLAY_DATA_ROOTS", str(data))
    params = {**defaults(), "expected_path": str(data / "rec" / "a.csv"), "expected_net_disk_path": None}
    for given in (data / "rec", data / "rec" / "*.csv"):
        check({**params, "dataset_path": str(given)})
    with pytest.raises(ParamError, match=r"dataset_path: .*empty.*no \*\.csv file"):
        check({**params, "dataset_path": str(data / "empty")})
    # A link in an allowed folder to a file elsewhere is refused, naming the file.
    (outside / "secret.csv").write_text("server_id,timestamp,cpu_pct,mem_pct\ns,00:00:01,1,2\n")
    (data / "rec" / "c.csv").symlink_to(outside / "secret.csv")
    for given in (data / "rec", data / "rec" / "*.csv"):
        with pytest.raises(ParamError, match=r"dataset_path: '.*c\.csv'.*outside the allowed data"):
            check({**params, "dataset_path": str(given)})


def test_schemas_refuse_out_of_range_values_at_trigger_time():
    """Airflow validates these schemas when a run is created, before any task."""
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    for name, bad in (("seconds_per_group", -0.5), ("cpu_threshold", 100.5), ("window_seconds", 0),
                      ("partitions", 0), ("dataset_path", ""), ("speed", -1), ("speed", "fast"),
                      ("time_shift", "later"), ("recording_start", 20240301)):
        params = ParamsDict(replay_params())
        with pytest.raises(ParamValidationError, match=name):
            params[name] = bad


def test_default_paths_exist():
    assert DEFAULT_DATASET.is_file() and DEFAULT_EXPECTED.is_file()


def test_nightly_mode_variable_switches_scheduled_runs_only(monkeypatch):
    """Scheduled runs take the Airflow Variable's mode when it is set; manual runs keep their param."""
    from airflow.sdk.exceptions import AirflowFailException

    from include import replay

    monkeypatch.setenv("AIRFLOW_VAR_METRICS_REPLAY_NIGHTLY_MODE", "live")
    assert replay.choose_mode({"mode": "batch"}, scheduled=True) == "live"
    assert replay.choose_mode({"mode": "batch"}, scheduled=False) == "batch"
    monkeypatch.setenv("AIRFLOW_VAR_METRICS_REPLAY_NIGHTLY_MODE", "streaming")
    with pytest.raises(AirflowFailException, match="metrics_replay_nightly_mode.*'streaming'"):
        replay.choose_mode({"mode": "batch"}, scheduled=True)
    monkeypatch.delenv("AIRFLOW_VAR_METRICS_REPLAY_NIGHTLY_MODE")
    assert replay.choose_mode({"mode": "live"}, scheduled=True) == "live"
