"""The bench's own-memory figure is the process's own, not inherited from a big parent."""

from __future__ import annotations

import subprocess
import sys

from bench.common import MIB, own_peak_rss_bytes
from include.paths import PROJECT_ROOT


def test_child_reports_its_own_peak_not_its_parents():
    ballast = bytearray(400 * MIB)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1  # touch every page, so the parent's peak really is over 400 MiB
    assert own_peak_rss_bytes() > 400 * MIB
    out = subprocess.run([sys.executable, "-c", "from bench.common import own_peak_rss_bytes as f; print(f())"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    del ballast
    assert 0 < int(out) < 200 * MIB, f"child reported {int(out) / MIB:.0f} MiB"
