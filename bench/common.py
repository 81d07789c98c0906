"""What every part of the bench shares: where files go, timing child processes with their peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from include.paths import PROJECT_ROOT

WORK_DIR = PROJECT_ROOT / ".cache" / "bench"  # generated datasets, broker data, outputs (git-ignored)
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
PYTHON = sys.executable
MIB = 1024 * 1024


def child_env(**extra: str) -> dict[str, str]:
    """The environment of bench child processes: the venv's Python first on PATH (spark-submit, PySpark)."""
    bin_dir = str(Path(PYTHON).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYSPARK_PYTHON": PYTHON, "PYSPARK_DRIVER_PYTHON": PYTHON, "PYTHONPATH": str(PROJECT_ROOT)}
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.update(extra)
    return env


def _hwm_bytes(pid: int) -> int:
    """The kernel's peak resident set (VmHWM) of a live process, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def rss_bytes(pid: int) -> int:
    """The resident set (VmRSS) of a live process now, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def peak_rss_bytes(pid: int) -> int:
    """The kernel's peak resident set (VmHWM) of a live process (e.g. a server this bench started), 0 when gone."""
    return _hwm_bytes(pid)


def own_peak_rss_bytes() -> int:
    """This process's own peak resident set (VmHWM).

    Not getrusage's ru_maxrss: Linux carries that over exec from the parent's memory at spawn, so a child
    of a big bench process would report the parent's peak."""
    return _hwm_bytes(os.getpid())


@dataclass
class Measured:
    """One child process run: wall time, exit code, output, and peak RSS per process of its tree."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss: dict[str, int] = field(default_factory=dict)  # "name pid" -> VmHWM bytes, last seen alive

    def peak_of(self, name: str) -> int:
        """Largest peak of the tree's processes whose command name is ``name`` (java, python...)."""
        return max((v for k, v in self.peak_rss.items() if k.split()[0] == name), default=0)

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited with {self.returncode}:\n{self.stderr[-4000:]}\n{self.stdout[-2000:]}")
        return self


def run_measured(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800,
                 interval: float = 0.1, cwd: Path = PROJECT_ROOT) -> Measured:
    """Run ``cmd``; sample the VmHWM of every process in its tree until it exits."""
    peaks: dict[str, int] = {}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env or child_env(), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=n, s=s: out.__setitem__(n, s.read()), daemon=True)
               for n, s in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for r in readers:
        r.start()
    root = psutil.Process(proc.pid)
    deadline = started + timeout
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for p in tree:
            try:
                key = f"{p.name()} {p.pid}"
            except psutil.NoSuchProcess:
                continue
            hwm = _hwm_bytes(p.pid)
            if hwm:
                peaks[key] = max(peaks.get(key, 0), hwm)
        if time.perf_counter() > deadline:
            proc.kill()
            break
        time.sleep(interval)
    proc.wait()
    seconds = time.perf_counter() - started
    for r in readers:
        r.join()
    return Measured(seconds, proc.returncode, out.get("stdout", ""), out.get("stderr", ""), peaks)


def last_json_line(text: str) -> dict:
    """The last line of a child's stdout that is a JSON object (its result)."""
    import json

    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON result in output:\n{text[-2000:]}")


# Row 1's target: our producer against Kafka's ProducerPerformance on the 10x day (issue 17; was 0.5x).
PRODUCER_OVER_JAVA = 1.0


def write_part_results(result: dict, out: Path, rows: list[str]) -> int:
    """A part bench run on its own (bench/compressed.py, bench/history.py): ``result`` as JSON in ``out``, its
    table ``rows`` as Markdown beside it (``out`` with .md) and on stdout; the exit status, 0 when every target
    was met."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    table = "\n".join(["| # | figure | ours | baseline | ratio | target | verdict |", "|---|---|---|---|---|---|---|",
                       *rows]) + "\n"
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"results: {out}")
    return 0 if result["met"] else 1

