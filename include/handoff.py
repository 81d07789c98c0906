"""Reading a typed hand-off file (manifest.json, validation.json): validated where it is read.

Each hand-off is one pydantic model, defined in the module that writes it (``include.offsets.Manifest``,
``include.validation.ValidationRecord``). This is the one place that turns "missing, unreadable, not JSON,
or not that model" into the reader's own named error, with the file and the bad field in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

# A person fixes the first few problems; the rest only make the message unreadable.
SHOWN_PROBLEMS = 3


def problems(exc: ValidationError) -> str:
    """pydantic's complaints as ``field 'a.b': message; ...`` (bare message when it names no field)."""
    errors = exc.errors(include_url=False, include_input=False)
    shown = []
    for err in errors[:SHOWN_PROBLEMS]:
        where = ".".join(str(part) for part in err["loc"])
        shown.append(f"field {where!r}: {err['msg']}" if where else err["msg"])
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def read_model(path: Path | str, model: type[M], error: type[Exception], missing: str) -> M:
    """``model`` validated from the JSON file at ``path``; ``error(message naming the file)`` otherwise.

    ``missing`` says what a missing file means for this hand-off (e.g. which task did not finish)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{path}: unreadable: {exc.strerror or exc}") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise error(f"{path}: malformed {path.name}: {problems(exc)}") from None
