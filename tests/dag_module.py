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
