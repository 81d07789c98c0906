"""Where files live: the project root, relative-path resolution, the roots paths are confined to, per-run
output folders, atomic writes.

A run's paths come from params a UI user types, so they are confined: inputs (dataset and expected files)
to the data roots, outputs to the output roots. By default those are the project's data/ and output/;
METRICS_REPLAY_DATA_ROOTS and METRICS_REPLAY_OUTPUT_ROOTS (folders separated by ':', relative ones relative
to the project root) replace them. Paths are checked after resolving symlinks and '..', so neither can
lead out of a root.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
OUTPUT_DIR = PROJECT_ROOT / "output"
DEFAULT_DATASET = DATA_DIR / "metrics.csv"
DEFAULT_EXPECTED = DATA_DIR / "metrics_expected.csv"
DEFAULT_EXPECTED_NET_DISK = DATA_DIR / "metrics_net_disk_expected.csv"


def resolve(path: str | os.PathLike[str]) -> Path:
    """A path as given by a user: relative ones are relative to the project root. Spaces are fine."""
    p = Path(os.path.expanduser(str(path)))
    return p if p.is_absolute() else PROJECT_ROOT / p


DATA_ROOTS_ENV = "METRICS_REPLAY_DATA_ROOTS"
OUTPUT_ROOTS_ENV = "METRICS_REPLAY_OUTPUT_ROOTS"


class PathNotAllowed(ValueError):
    """A path param that leads outside its configured roots; the message names the param and the roots."""


def allowed_roots(kind: str) -> list[Path]:
    """The real (symlink-free) folders ``kind`` ("data" or "output") paths must lie in."""
    env, default = (DATA_ROOTS_ENV, DATA_DIR) if kind == "data" else (OUTPUT_ROOTS_ENV, OUTPUT_DIR)
    given = [r for r in os.environ.get(env, "").split(os.pathsep) if r.strip()]
    return [Path(os.path.realpath(resolve(r.strip()))) for r in given] or [Path(os.path.realpath(default))]


def output_root_of(folder: Path) -> int | None:
    """The number of the output root ``folder`` lies directly in (the run folders the Replay validation page
    lists), or None."""
    parent = Path(os.path.realpath(folder)).parent
    return next((i for i, root in enumerate(allowed_roots("output")) if root == parent), None)


def confined(path: str | os.PathLike[str], name: str, kind: str) -> Path:
    """``path`` resolved (symlinks and '..' included) if it lies inside one of the ``kind`` roots; else
    PathNotAllowed naming ``name``. The real path is returned, so what was checked is what gets used."""
    real = Path(os.path.realpath(resolve(path)))
    roots = allowed_roots(kind)
    if any(real == root or real.is_relative_to(root) for root in roots):
        return real
    env = DATA_ROOTS_ENV if kind == "data" else OUTPUT_ROOTS_ENV
    shown = "" if str(real) == str(resolve(path)) else f" (resolves to {real})"
    raise PathNotAllowed(f"{name}: {str(path)!r}{shown} is outside the allowed {kind} folders "
                         f"{', '.join(str(r) for r in roots)}; set {env} to allow another folder")


def run_folder_name(run_id: str) -> str:
    """A folder name for a run id (run ids hold ':' and '+', which are awkward in paths)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("_") or "run"


def output_dir_for(output_dir: str | None, run_id: str) -> Path:
    """The run's output folder: the param when set, else output/<run id>."""
    if output_dir:
        return resolve(output_dir)
    return OUTPUT_DIR / run_folder_name(run_id)


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename, so ``path`` is never partial."""
    _replace_atomically(path, lambda fh: fh.write(text.encode("utf-8")))


def concatenate_atomically(path: Path, head: str, parts: list[Path]) -> int:
    """``head`` then the bytes of each of ``parts`` in order, streamed (never all in memory), written and
    renamed into place as write_atomically does. Returns how many lines the parts held."""
    lines = 0

    def fill(fh) -> None:
        nonlocal lines
        fh.write(head.encode("utf-8"))
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(1024 * 1024):
                    lines += chunk.count(b"\n")
                    fh.write(chunk)

    _replace_atomically(path, fill)
    return lines


def _replace_atomically(path: Path, fill) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to this user
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
