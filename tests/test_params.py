"""Param checks that span params, with messages that name the param."""

from __future__ import annotations

import pytest

from include.params import ParamError, check, replay_params
from include.paths import DEFAULT_DATASET, DEFAULT_EXPECTED


def defaults() -> dict:
    return {name: p.value for name, p in replay_params().items()}


def test_defaults_pass():
    check(defaults())


@pytest.mark.parametrize("change,named", [
    ({"slide_seconds": 40}, "slide_seconds"),
    ({"window_seconds": 25}, "window_seconds"),
    ({"seconds_per_group": -1}, "seconds_per_group"),
    ({"dataset_path": "data/no-such.csv"}, "dataset_path"),
    ({"expected_path": "data/no-such.csv"}, "expected_path"),
])
def test_impossible_combinations_are_refused_naming_the_param(change, named):
    with pytest.raises(ParamError, match=named):
        check({**defaults(), **change})


def test_schemas_refuse_out_of_range_values_at_trigger_time():
    """Airflow validates these schemas when a run is created, before any task."""
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    for name, bad in (("seconds_per_group", -0.5), ("cpu_threshold", 100.5), ("window_seconds", 0),
                      ("partitions", 0), ("dataset_path", "")):
        params = ParamsDict(replay_params())
        with pytest.raises(ParamValidationError, match=name):
            params[name] = bad


def test_default_paths_exist():
    assert DEFAULT_DATASET.is_file() and DEFAULT_EXPECTED.is_file()
