"""Prediction log for monitoring: one JSON line per scored record, appended to a local file.

Line format (stable; the monitor job reads it)::

    {"ts": "2026-11-23T01:02:03.456789+00:00", "request_id": "...", "id": 7, "role": "champion",
     "endpoint": "predict", "model_version": "mlops-template-model:abc", "inputs": {...feature: value...},
     "label": 1, "score": 0.97}

``id`` is the record's ``data.id_column`` value when the client sent one, else a generated id
(:func:`record_ids`); the response returns the same ids, so labels can be reported against them.
``role`` is ``champion`` (the model that answered) or ``challenger`` (scored in shadow: same
``request_id`` and ``id``, its own ``model_version``, no ``inputs``). Lines without ``role`` (older logs)
are champion lines.

Each request is written with one ``write`` call on a file opened in append mode, so lines of
concurrent workers do not interleave. The feedback log (``POST /feedback``) is a second JSONL file with
one ``{<id_column>: id, <target>: label, "ts": ...}`` line per label: the monitor's labels format
(``POST /feedback_batch`` appends a validated list of them in one write).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"


def new_request_id() -> str:
    return uuid.uuid4().hex


def record_ids(request_id: str, records: Sequence[dict[str, Any]], id_column: str, single: bool = False) -> list[Any]:
    """The id of each record: its ``id_column`` value when sent (and not null), else a generated one.

    Generated ids: the request id for a single-record request, ``f"{request_id}-{i}"`` for record ``i`` of
    a batch (pure).
    """
    ids: list[Any] = []
    for i, record in enumerate(records):
        sent = record.get(id_column)
        ids.append(sent if sent is not None else (request_id if single else f"{request_id}-{i}"))
    return ids


def batch_ids(request_id: str, sent: Sequence[Any] | None, rows: int) -> list[Any]:
    """:func:`record_ids` of a batch from its id column's values (None: no id column): the same ids, without a
    dict per record."""
    suffixes = _suffixes(rows)
    if sent is None:
        return [request_id + s for s in suffixes]
    return [s if s is not None else request_id + suffixes[i] for i, s in enumerate(sent)]


_SUFFIXES: list[str] = []


def _suffixes(rows: int) -> list[str]:
    """``["-0", "-1", ...]`` for ``rows`` rows (concatenating two strings is ~3x cheaper than formatting one:
    10,000 ids in ~0.3 ms). Built once and replaced by a longer list when needed, never changed in place:
    the service calls this from several threads at once."""
    global _SUFFIXES
    cached = _SUFFIXES
    if len(cached) < rows:
        cached = [f"-{i}" for i in range(rows)]
        _SUFFIXES = cached
    return cached[:rows]


def log_lines(
    endpoint: str,
    model_version: str,
    records: Sequence[dict[str, Any]] | None,
    labels: Sequence[Any],
    scores: Sequence[float],
    *,
    request_id: str | None = None,
    ids: Sequence[Any] | None = None,
    role: str = CHAMPION,
    drop: str | None = None,
) -> str:
    """The JSONL text for one request (pure).

    ``records`` (the inputs) are written on champion lines only; ``drop`` names a key left out of the
    logged inputs (the id column: it is the line's ``id``, not a feature).
    """
    ts = datetime.now(UTC).isoformat()
    request_id = request_id or new_request_id()
    ids = list(ids) if ids is not None else [f"{request_id}-{i}" for i in range(len(labels))]
    lines = []
    for i, (label, score) in enumerate(zip(labels, scores, strict=True)):
        line: dict[str, Any] = {
            "ts": ts,
            "request_id": request_id,
            "id": ids[i],
            "role": role,
            "endpoint": endpoint,
            "model_version": model_version,
        }
        if role == CHAMPION and records is not None:
            record = records[i]
            line["inputs"] = {k: v for k, v in record.items() if k != drop} if drop in record else record
        line["label"] = label
        line["score"] = score
        lines.append(json.dumps(line, separators=(",", ":")) + "\n")
    return "".join(lines)


def feedback_line(id_column: str, target: str, record_id: Any, label: Any) -> str:
    """One labels row as JSONL (the monitor's labels format): ``{<id_column>: id, <target>: label, ts}``."""
    return json.dumps({id_column: record_id, target: label, "ts": datetime.now(UTC).isoformat()}) + "\n"


def feedback_lines(id_column: str, target: str, items: Sequence[dict[str, Any]]) -> str:
    """The labels rows of a ``/feedback_batch`` request (``{"id", "label"}`` items), one ``ts`` for all:
    written with one ``write`` call, so the whole list is appended or nothing is."""
    ts = datetime.now(UTC).isoformat()
    return "".join(json.dumps({id_column: i["id"], target: i["label"], "ts": ts}) + "\n" for i in items)


SERVE_DIR_ENV = "MLOPS_SERVE_DIR"  # the directory the server was started from (`make serve` sets it)


def log_location(path: str | Path, serve_dir: str | None) -> Path:
    """Where a configured log path points (pure): an absolute path as is; a relative one under ``serve_dir``
    (the project, when started by ``make serve``), else under the working directory. ``bentoml serve``
    runs the service from the bento's own ``src`` folder in the BentoML store, where ``make monitor`` would
    never look."""
    p = Path(path)
    return p if p.is_absolute() or not serve_dir else Path(serve_dir) / p


class PredictionLog:
    """Appends request logs to ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All entries of a prediction log (for the monitor and the tests)."""
    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
