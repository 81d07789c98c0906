"""The one search for secrets in what a run leaves behind; every test that gives a run a secret calls it.

    with SecretScan([PASSWORD], marker=str(out)) as scan:
        dr, _ = run_dag({... "output_dir": str(out)})
    logged = scan.check(capfd, caplog, output_dir=out, expect=["Validation passed"])

While the run goes on it watches every process's command line. ``check`` then searches, for every secret:

- every file under the run's output folder, whatever its name (a glob, so files the project starts writing
  later -- alerts.jsonl, notices, history files -- are searched without touching this module), and every file
  written during the run under the ``folders`` a caller adds (e.g. where an audit history is kept);
- every task log file written during the run under the Airflow home's logs/;
- everything printed (stdout and stderr, spark-submit's included) and every log record;
- the texts a caller passes (e.g. messages read back from topic-alerts, a notice a test server received).

It fails naming where a secret was found, never the secret. ``expect`` guards against searching nothing: lines
that must be among the captured logs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import psutil

SPARK_SUBMIT_CLASS = "org.apache.spark.deploy.SparkSubmit"


class SecretScan:
    def __init__(self, secrets: Iterable[str], marker: str | None = None) -> None:
        """``marker`` names this run's processes (e.g. its output folder, on spark-submit's command line):
        another xdist worker may be running a spark-submit of its own meanwhile."""
        self.secrets = [s for s in secrets]
        if not self.secrets or not all(len(s) >= 8 for s in self.secrets):
            raise ValueError("give the scan secrets of 8 characters or more: a short one matches by chance")
        self.marker = marker
        self.since = time.time() - 1  # file times are coarser than time.time()
        self.command_line_leaks: list[str] = []  # "pid <n> (<program>)": where, not what
        self.spark_submits = 0  # command lines seen of this run's spark-submit (looks counted, not processes)
        self.files: list[Path] = []  # every file check() searched
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        # not a wait: a look at every command line every 0.2 s for as long as the run goes on
        while not self._done.is_set():
            for proc in psutil.process_iter(["cmdline", "name"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                self.spark_submits += SPARK_SUBMIT_CLASS in cmd and (self.marker is None or self.marker in cmd)
                if any(s in cmd for s in self.secrets):
                    self.command_line_leaks.append(f"pid {proc.pid} ({proc.info['name']})")
            self._done.wait(0.2)

    def __enter__(self) -> SecretScan:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def check(self, capfd, caplog, output_dir: Path | None = None, folders: Iterable[Path] = (),
              texts: Mapping[str, str] | None = None, expect: Iterable[str] = ()) -> str:
        """Search everything (see the module's docstring); fail naming each place a secret is in. Returns all
        that was printed and logged, for the caller's own checks."""
        if self._thread.is_alive():
            raise RuntimeError("SecretScan.check: leave the `with` block first (the run is still watched)")
        out, err = capfd.readouterr()
        logged = "\n".join([out, err, *(f"{r.name} {r.getMessage()}" for r in caplog.records)])
        places: dict[str, str] = {"captured output and log records": logged}
        logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
        written = [*self._files(logs, since=self.since), *(f for d in folders for f in self._files(d, self.since))]
        if output_dir is not None:
            written += self._files(output_dir, since=None)
        self.files = sorted(set(written))
        for path in self.files:
            places[f"file {path}"] = path.read_bytes().decode("utf-8", errors="replace")
        task_logs = "\n".join(v for k, v in places.items() if k.startswith(f"file {logs}"))
        for name, text in (texts or {}).items():
            places[name] = text

        missing = [line for line in expect if line not in logged and line not in task_logs]
        assert not missing, f"not in the captured logs or task log files: {missing}"
        leaks = [f"secret #{i + 1} in {where}" for where, text in places.items()
                 for i, secret in enumerate(self.secrets) if secret in text]
        leaks += [f"a secret on the command line of {where}" for where in self.command_line_leaks]
        assert not leaks, "secrets leaked: " + "; ".join(leaks)
        return logged + "\n" + task_logs

    @staticmethod
    def _files(folder: Path, since: float | None) -> list[Path]:
        if not folder.is_dir():
            return []
        return [p for p in folder.rglob("*") if p.is_file() and (since is None or p.stat().st_mtime >= since)]
