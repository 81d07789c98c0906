"""The DAG file as a module, for tests that check its own constants (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "metrics_replay.py"


def load_dag_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("metrics_replay_dag_constants", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BRANCH_TASK = "choose_mode"
LIVE_TASKS = ("start_stream", "produce_metrics_live", "window_metrics_live")


def step_states(dr) -> dict[str, str]:
    """A batch run's task states as the five steps' (check_broker ... validate_output): the branch task that
    chose batch mode, and the live path it skipped, are checked here and left out."""
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    if states.get(BRANCH_TASK) == "success":
        assert all(states[t] == "skipped" for t in LIVE_TASKS), states
        for t in (BRANCH_TASK, *LIVE_TASKS):
            del states[t]
    return without_review(states)


REVIEW_TASKS = ("review_output", "bless_output")
VERDICT_TASK = "keep_verdict"


def without_review(states: dict[str, str]) -> dict[str, str]:
    """The states without the review tasks, checked: under dag.test() (review_minutes 0) nothing is reviewed or
    blessed, and keep_verdict, the run's leaf, fails exactly when validate_output did not succeed."""
    if VERDICT_TASK not in states:
        return states
    assert all(states[t] == "skipped" for t in REVIEW_TASKS), states
    verdict = "success" if states["validate_output"] == "success" else "upstream_failed"
    assert states[VERDICT_TASK] == verdict, states
    return {t: s for t, s in states.items() if t not in (*REVIEW_TASKS, VERDICT_TASK)}
