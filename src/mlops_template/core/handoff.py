"""Hand-off files: JSON that one step writes and a later step (another process, job or version) reads.

Each hand-off is a pydantic model derived from :class:`HandOff`, written by one function and read back typed,
never as a free dict. Reading checks the file against the model: a missing file, a file that is not JSON, or a
missing or ill-typed field raises :class:`HandOffError` naming the file and the field. Fields a newer writer
added are ignored, so an older reader still reads the file; a field a reader needs that an older writer did
not write must have a default in the model (or the read fails, naming it).

The hand-offs: ``reports/pr/comparison.json`` (experiment.comparison_record), the baseline cache's
``source.json`` and pin map entries (experiment.baseline), ``serving_check.json`` next to a stored model
(ops.serving.store), the release record and ``rollback.json`` (ops.serving.record) and the retraining state
(ops.monitoring.retrain_state).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class HandOffError(ValueError):
    """A hand-off file is missing, unreadable, not JSON, or lacks a field / has one of the wrong type."""


def describe(path: Path | str, err: ValidationError, limit: int = 3) -> str:
    """``path: field: problem (got value)`` for the first ``limit`` problems pydantic found."""
    parts = []
    for problem in err.errors()[:limit]:
        where = ".".join(str(p) for p in problem["loc"])
        if problem["type"] == "json_invalid":
            parts.append(f"not valid JSON ({problem.get('ctx', {}).get('error', problem['msg'])})")
            continue
        got = "" if problem["type"] == "missing" else f" (got {problem.get('input')!r:.80})"
        parts.append(f"{where or '(top level)'}: {problem['msg'].lower()}{got}")
    more = f"; and {err.error_count() - limit} more" if err.error_count() > limit else ""
    return f"{path}: " + "; ".join(parts) + more


class HandOff(BaseModel):
    """Base of the hand-off models: typed read and one atomic write."""

    # NaN / infinity (an interval without a valid resample) are written as JSON's NaN / Infinity, as json.dumps
    # writes them, not as null (which a float field would then refuse)
    model_config = ConfigDict(extra="ignore", ser_json_inf_nan="constants")
    # What writes the file, for the message when it is missing ("run `make pr-report` first").
    WRITER: ClassVar[str] = ""

    @classmethod
    def parse(cls, text: str | bytes, origin: Path | str) -> Self:
        try:
            return cls.model_validate_json(text)
        except ValidationError as err:
            hint = f" (written by {cls.WRITER}: run it again with this version)" if cls.WRITER else ""
            raise HandOffError(describe(origin, err) + hint) from None

    @classmethod
    def read(cls, path: Path | str) -> Self:
        """The model in ``path``; HandOffError naming the file (and field) when it is missing or does not fit."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            run = f": run {cls.WRITER} first" if cls.WRITER else ""
            raise HandOffError(f"{file}: not found{run}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise HandOffError(f"{file}: cannot read it: {err}") from None
        return cls.parse(text, file)

    @classmethod
    def read_if_exists(cls, path: Path | str) -> Self | None:
        """Like :meth:`read`, None when there is no such file."""
        return cls.read(path) if Path(path).is_file() else None

    def write(self, path: Path | str) -> Path:
        """Write the file whole or not at all (a reader never sees half a file)."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, file)
        finally:
            tmp.unlink(missing_ok=True)
        return file
