"""The secret scan itself (tests/secret_scan.py) finds a secret in each place it searches, names the place, and
never prints the secret: the security tests' "never logged" would otherwise prove nothing."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.waiting import wait_until
from secret_scan import SecretScan

SECRET = "Scan-Me-4hJ7-wren-fig-5521"
# Put on a real command line, which every scan on this machine watches: a secret of its own, or a scan of
# SECRET in another test running at the same time (the other xdist worker) finds it there.
ARGV_SECRET = "Argv-Only-9kQ2-fern-oak-3310"


def failure(scan: SecretScan, capfd, caplog, **where) -> str:
    with pytest.raises(AssertionError) as failed:
        scan.check(capfd, caplog, **where)
    message = str(failed.value)
    assert SECRET not in message, "the scan printed the secret it found"
    return message


def test_clean_run_passes_and_lists_every_file_it_searched(tmp_path, capfd, caplog):
    out = tmp_path / "run"
    (out / "nested").mkdir(parents=True)
    (out / "manifest.json").write_text("{}")
    (out / "nested" / "some-future-output.jsonl").write_text('{"alert": "CPU spike suspected"}\n')
    with SecretScan([SECRET]) as scan:
        logging.getLogger("metrics_replay").warning("Validation passed")
    logged = scan.check(capfd, caplog, output_dir=out, expect=["Validation passed"])
    assert "Validation passed" in logged
    assert {p.name for p in scan.files} >= {"manifest.json", "some-future-output.jsonl"}
    with pytest.raises(AssertionError, match="not in the captured logs"):
        scan.check(capfd, caplog, expect=["a line nobody logged"])


def test_a_secret_in_any_output_file_is_found_by_name(tmp_path, capfd, caplog):
    out = tmp_path / "run"
    (out / "notices").mkdir(parents=True)
    (out / "notices" / "0001.json").write_text(f'{{"text": "login {SECRET} refused"}}')  # a name no one listed
    with SecretScan([SECRET]) as scan:
        pass
    assert f"secret #1 in file {out / 'notices' / '0001.json'}" in failure(scan, capfd, caplog, output_dir=out)


def test_a_secret_in_a_file_written_during_the_run_in_another_folder_is_found(tmp_path, capfd, caplog):
    history = tmp_path / "history"
    history.mkdir()
    old = history / "audit-old.jsonl"
    old.write_text(SECRET)  # written before the run: not the run's doing
    os.utime(old, (1, 1))
    with SecretScan([SECRET]) as scan:
        (history / "audit.jsonl").write_text(f"approved by {SECRET}\n")
    message = failure(scan, capfd, caplog, folders=[history])
    assert f"file {history / 'audit.jsonl'}" in message and "audit-old" not in message


def test_a_secret_in_a_task_log_file_is_found(capfd, caplog):
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs" / "dag_id=scan_test"
    logs.mkdir(parents=True, exist_ok=True)
    with SecretScan([SECRET]) as scan:
        (logs / "attempt=1.log").write_text(f"password={SECRET}\n")
    try:
        assert f"file {logs / 'attempt=1.log'}" in failure(scan, capfd, caplog)
    finally:
        (logs / "attempt=1.log").unlink()


@pytest.mark.parametrize("how", ["stdout", "stderr", "log record"])
def test_a_secret_printed_or_logged_is_found(capfd, caplog, how):
    with SecretScan([SECRET]) as scan:
        if how == "log record":
            logging.getLogger("metrics_replay").warning("connecting with %s", SECRET)
        else:
            print(SECRET, file=sys.stdout if how == "stdout" else sys.stderr)
    assert "secret #1 in captured output and log records" in failure(scan, capfd, caplog)


def test_a_secret_in_a_text_the_caller_passes_is_found(capfd, caplog):
    with SecretScan(["other-secret-1", SECRET]) as scan:
        pass
    message = failure(scan, capfd, caplog, texts={"message 3 of topic-alerts": f'{{"by": "{SECRET}"}}'})
    assert "secret #2 in message 3 of topic-alerts" in message


def test_a_secret_on_a_command_line_is_found(capfd, caplog):
    with SecretScan([ARGV_SECRET]) as scan:
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", ARGV_SECRET],
                                stdin=subprocess.PIPE)
        try:
            wait_until(lambda: scan.command_line_leaks, 10, what="the watcher to see the command line")
        finally:
            proc.communicate(b"", timeout=10)
    assert f"a secret on the command line of pid {proc.pid}" in failure(scan, capfd, caplog)


def test_short_secrets_are_refused():
    with pytest.raises(ValueError, match="8 characters"):
        SecretScan(["pw"])
