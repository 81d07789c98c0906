"""The project image's Python environment, rebuilt without Docker: the image cannot drift from pyproject.toml.

docker/Dockerfile installs the project itself (`pip install -c constraints.txt <project>`). Here the same pip
command line, read from the Dockerfile, runs in a throwaway venv on the image's Python, over a project folder
laid out as the Dockerfile's COPY lines lay it out. Then everything the DAG, the plugin and the Spark job
import (found by walking their code and every include/ module they reach, imports inside functions too) is
imported in that venv, the DAG folder is parsed and the plugins are loaded, with PYTHONPATH as the image sets
it. A runtime import that pyproject.toml does not bring (plotly, once) fails here, naming the module and the
line that imports it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
# Where the image keeps the project; the Dockerfile's paths under it are mapped to a temporary folder here.
IMAGE_PROJECT = "/opt/airflow/project"
# What runs in the containers: the DAG files, the plugin, and the Spark job spark-submit starts.
ENTRY_POINTS = ("dags/metrics_replay.py", "dags/metrics_alerts.py", "plugins/replay_validation.py",
                "include/spark_job.py")
RUNTIME_PACKAGE = "include"
DEV_ONLY_PACKAGES = ("devtools", "bench", "tests")
DAG_ID = "metrics_replay"


# --- the Dockerfile, read as Docker reads it ---------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comment lines (also inside continuations) dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        pending.append(line.removesuffix("\\").strip())
        if line.endswith("\\"):
            continue
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    assert not pending, f"{DOCKERFILE}: line {start} continues past the end of the file"
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    assert starts, f"{DOCKERFILE} has no FROM"
    return instructions[starts[-1]:]


def to_local(path: str, project: Path) -> str:
    """An image path under IMAGE_PROJECT, as the same path under the local stand-in folder."""
    return re.sub(rf"{re.escape(IMAGE_PROJECT)}(?=/|$)", str(project), path)


def project_pip_install(instructions: list[Instruction]) -> tuple[int, list[str]]:
    """The one RUN that pip-installs the project: its line and its words. Fails unless there is exactly one."""
    runs = [ins for ins in instructions if ins.keyword == "RUN" and re.search(r"\bpip\b.*\binstall\b", ins.args)]
    assert len(runs) == 1, (f"{DOCKERFILE}: expected exactly one RUN with `pip install`, found {len(runs)} "
                            f"(lines {[r.line for r in runs]})")
    run = runs[0]
    words = shlex.split(run.args)
    assert words[:2] == ["pip", "install"], \
        f"{DOCKERFILE}:{run.line}: the RUN must start with `pip install`: {run.args}"
    shell = [w for w in words if w in ("&&", "||", ";", "|") or w.endswith(";")]
    assert not shell, f"{DOCKERFILE}:{run.line}: the pip install must be a command of its own, found {shell}"
    return run.line, words


def copy_into_project(instructions: list[Instruction], project: Path) -> list[str]:
    """Lays out `project` as the final stage's COPY lines lay out IMAGE_PROJECT; returns what was copied."""
    copied: list[str] = []
    for ins in final_stage(instructions):
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = json.loads(ins.args) if ins.args.startswith("[") else shlex.split(ins.args)
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue  # from another stage (the jars), not from the repository
        *sources, dest = [w for w in words if not w.startswith("--")]
        assert sources, f"{DOCKERFILE}:{ins.line}: {ins.keyword} without a source"
        assert dest.startswith("/"), f"{DOCKERFILE}:{ins.line}: relative destination {dest!r} (set it absolute)"
        if not (dest == IMAGE_PROJECT or dest.startswith(IMAGE_PROJECT + "/")):
            continue
        target = Path(to_local(dest, project))
        into_folder = dest.endswith("/") or len(sources) > 1
        for source in sources:
            src = ROOT / source
            assert src.exists(), f"{DOCKERFILE}:{ins.line}: copies {source}, which does not exist"
            if src.is_dir():  # Docker copies a folder's contents, not the folder itself
                shutil.copytree(src, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dst = target / src.name if into_folder else target
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
            copied.append(f"{source} -> {dest}")
    return copied


def image_env(instructions: list[Instruction], name: str) -> str:
    """The value the final stage's last ENV gives `name` (both `ENV K=V` and `ENV K V` forms)."""
    value = None
    for ins in final_stage(instructions):
        if ins.keyword != "ENV":
            continue
        words = shlex.split(ins.args)
        if "=" not in words[0]:
            if words[0] == name:
                value = " ".join(words[1:])
            continue
        for word in words:
            key, _, val = word.partition("=")
            if key == name:
                value = val
    assert value is not None, f"{DOCKERFILE}: the image sets no {name}"
    return value


# --- what the runtime code imports ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportStatement:
    module: str
    names: tuple[str, ...]  # empty for `import module`
    where: str  # file:line
    in_function: bool


def _imports(tree: ast.AST, package: str, where: str) -> Iterator[ImportStatement]:
    """Every import in the tree, module level and inside functions; `if TYPE_CHECKING:` bodies do not run."""
    def visit(node: ast.AST, in_function: bool) -> Iterator[ImportStatement]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportStatement(alias.name, (), f"{where}:{node.lineno}", in_function)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: `from . import x` in include/ means include.x
                parts = package.split(".") if package else []
                assert len(parts) >= node.level, f"{where}:{node.lineno}: relative import outside a package"
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            yield ImportStatement(module, tuple(a.name for a in node.names), f"{where}:{node.lineno}", in_function)
        children: list[ast.AST] = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            children = node.orelse
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in children:
            yield from visit(child, inside)

    yield from visit(tree, False)


def _module_file(module: str) -> Path | None:
    """The repository file of a module of the runtime package, or None if it is not one."""
    parts = module.split(".")
    if parts[0] != RUNTIME_PACKAGE:
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runtime_imports() -> tuple[list[ImportStatement], list[str]]:
    """The imports of the entry points and of every include/ module they reach; and the modules reached."""
    statements: list[ImportStatement] = []
    queue = [ROOT / entry for entry in ENTRY_POINTS]
    seen: set[Path] = set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        rel = path.relative_to(ROOT)
        package = ".".join(rel.parent.parts) if rel.parts[0] == RUNTIME_PACKAGE else ""
        found = list(_imports(ast.parse(path.read_text(), filename=str(path)), package, str(rel)))
        statements.extend(found)
        for statement in found:
            targets = [statement.module, *(f"{statement.module}.{name}" for name in statement.names)]
            for target in targets:
                parts = target.split(".")
                # Importing include.x runs include/__init__.py first.
                for depth in range(1, len(parts) + 1):
                    file = _module_file(".".join(parts[:depth]))
                    if file is not None:
                        queue.append(file)
    reached = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for p in seen if p.relative_to(ROOT).parts[0] == RUNTIME_PACKAGE)
    return statements, reached


def test_runtime_code_imports_no_dev_tooling():
    """The DAG, the plugin and the Spark job reach nothing of devtools/, bench/ or tests/ (not in the image)."""
    statements, reached = runtime_imports()
    assert {"include.spark_job", "include.replay", "include.reports"} <= set(reached), reached
    # The tasks import inside their functions; a walk that missed those would miss most of the runtime.
    assert any(s.in_function and s.module.startswith(RUNTIME_PACKAGE) for s in statements)
    dev = [f"{s.where}: {s.module}" for s in statements if s.module.split(".")[0] in DEV_ONLY_PACKAGES]
    assert not dev, "runtime code imports development tooling:\n  " + "\n  ".join(dev)


# --- the throwaway image environment -------------------------------------------------------------------------

# Runs in the throwaway venv: performs every import statement, then parses the DAG folder and loads the plugins
# the way the scheduler, the dag-processor and the API server do. Prints one JSON document.
CHECK = r"""
import json, sys
plan = json.load(sys.stdin)
failed = []
for s in plan["imports"]:
    statement = f"from {s['module']} import {', '.join(s['names'])}" if s["names"] else f"import {s['module']}"
    try:
        exec(statement, {})  # Python's own semantics and messages, `from package import submodule` included
    except BaseException as exc:
        failed.append({**s, "statement": statement, "error": f"{type(exc).__name__}: {exc}"})
import include
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=plan["dags"])
from airflow import plugins_manager
plugins = plugins_manager.get_plugin_info(attrs_to_dump=["source"])
print(json.dumps({
    "failed": failed,
    "include": include.__file__,
    "dag_ids": sorted(bag.dags),
    "dag_errors": {str(k): v for k, v in bag.import_errors.items()},
    "plugins": [str(p["source"]) for p in plugins],
    "plugin_errors": plugins_manager.get_import_errors(),
}))
"""


def _clean_env() -> dict[str, str]:
    """This process's environment without what points at the project's venv, its test Airflow or its paths
    (conftest sets those), and without pip settings that would install outside a venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT")
    env = {k: v for k, v in os.environ.items()
           if k not in drop and not k.startswith(("AIRFLOW", "METRICS_REPLAY", "PYSPARK"))}
    own_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != own_bin)
    return env


@dataclass
class ImageVenv:
    project: Path  # the stand-in for IMAGE_PROJECT
    report: dict  # what CHECK printed


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> Iterator[ImageVenv]:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    base = final_stage(instructions)[0]
    tag = re.search(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>\d+\.\d+)", base.args)
    assert tag, f"{DOCKERFILE}:{base.line}: the image is not built on apache/airflow:<version>-python<x.y>"
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"apache-airflow=={tag['airflow']}" in pinned, \
        f"{DOCKERFILE}:{base.line}: base image Airflow {tag['airflow']} is not pyproject.toml's apache-airflow pin"
    interpreter = shutil.which(f"python{tag['python']}")
    assert interpreter, f"python{tag['python']} (the image's Python) is not on PATH"

    tmp = tmp_path_factory.mktemp("image")
    project = tmp / "project"
    project.mkdir()
    copied = copy_into_project(instructions, project)
    line, words = project_pip_install(instructions)
    assert "-c" in words or any(w.startswith("--constraint") for w in words), \
        f"{DOCKERFILE}:{line}: the project is not installed with constraints: {shlex.join(words)}"
    assert IMAGE_PROJECT in words, f"{DOCKERFILE}:{line}: the pip install does not install the project itself"

    timings: dict[str, float] = {}
    env = _clean_env()
    started = time.monotonic()
    subprocess.run([interpreter, "-m", "venv", str(tmp / "venv")], check=True, env=env, timeout=300)
    timings["venv"] = time.monotonic() - started
    python = tmp / "venv" / "bin" / "python"
    # The image's exact command line, with its pip and its project folder standing in for the image's.
    command = [str(tmp / "venv" / "bin" / "pip"), *(to_local(w, project) for w in words[1:])]
    started = time.monotonic()
    pip = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200, cwd=tmp)
    timings["pip install"] = time.monotonic() - started
    assert pip.returncode == 0, (f"the image's pip install ({DOCKERFILE}:{line}) fails in a clean venv:\n"
                                 f"{shlex.join(command)}\n" + "\n".join(pip.stdout.splitlines()[-20:] +
                                                                        pip.stderr.splitlines()[-40:]))

    statements, _ = runtime_imports()
    airflow_home = tmp / "airflow"
    airflow_home.mkdir()
    home = tmp / "home"
    home.mkdir()
    runtime_env = {
        **env,
        # As the image: the project folder on PYTHONPATH (mapped), an Airflow home of its own, compose's DAG and
        # plugin folders (the repository's, which compose mounts), no examples. HOME is empty: nothing may rely
        # on this machine's home.
        "PYTHONPATH": to_local(image_env(instructions, "PYTHONPATH"), project),
        "HOME": str(home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": f"{python.parent}{os.pathsep}{env['PATH']}",
    }
    plan = {"imports": [asdict(s) for s in statements], "dags": str(ROOT / "dags")}
    started = time.monotonic()
    # -P: the working directory is not on sys.path, so nothing is imported from the repository by accident.
    check = subprocess.run([str(python), "-P", "-c", CHECK], input=json.dumps(plan), capture_output=True,
                           text=True, env=runtime_env, timeout=600, cwd=tmp)
    timings["imports"] = time.monotonic() - started
    assert check.returncode == 0, f"the import check crashed in the image venv:\n{check.stderr[-4000:]}"
    report = json.loads(check.stdout.strip().splitlines()[-1])
    print(f"\nimage venv: copied {copied}; " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    yield ImageVenv(project, report)
    shutil.rmtree(tmp / "venv")  # 1.2 GB; pytest keeps its last three temporary folders


# One test, not two sharing the venv: the install is the slow part, and pytest-xdist's --dist loadgroup does not
# keep xdist_group tests on one worker under pytest 9.2 (pytest-xdist issue 1386), so two tests built it twice.
@pytest.mark.image
@pytest.mark.integration  # not a unit test: kept out of `-m unit`
def test_image_installs_everything_the_runtime_imports(image_venv):
    report = image_venv.report
    lines = [f"{f['where']}: {f['statement']}  ->  {f['error']}" for f in report["failed"]]
    assert not lines, ("the image's pip install leaves out what the runtime code imports (add it to "
                       "pyproject.toml's dependencies):\n  " + "\n  ".join(lines))
    # The imports came from the image's project folder, not from this repository.
    assert Path(report["include"]).is_relative_to(image_venv.project), report["include"]
    # The DAG folder parses and the plugin loads as the dag-processor and the API server would load them.
    assert not report["dag_errors"], f"the DAG folder does not parse in the image venv: {report['dag_errors']}"
    assert DAG_ID in report["dag_ids"], report["dag_ids"]
    assert not report["plugin_errors"], f"plugins fail to load in the image venv: {report['plugin_errors']}"
    assert any(source.endswith("replay_validation.py") for source in report["plugins"]), report["plugins"]
