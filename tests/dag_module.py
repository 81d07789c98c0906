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
    return states
