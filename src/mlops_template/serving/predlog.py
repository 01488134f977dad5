"""Prediction log for monitoring: one JSON line per scored record, appended to a local file.

Line format (stable; the monitor job reads it)::

    {"ts": "2026-11-23T01:02:03.456789+00:00", "request_id": "...", "endpoint": "predict",
     "model_version": "mlops-template-model:abc", "inputs": {...feature: value...},
     "label": 1, "score": 0.97}

Each request is written with one ``write`` call on a file opened in append mode, so lines of
concurrent workers do not interleave.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def log_lines(
    endpoint: str, model_version: str, records: Sequence[dict[str, Any]], labels: Sequence[Any], scores: Sequence[float]
) -> str:
    """The JSONL text for one request (pure)."""
    ts = datetime.now(UTC).isoformat()
    request_id = uuid.uuid4().hex
    return "".join(
        json.dumps(
            {
                "ts": ts,
                "request_id": request_id,
                "endpoint": endpoint,
                "model_version": model_version,
                "inputs": record,
                "label": label,
                "score": score,
            },
            separators=(",", ":"),
        )
        + "\n"
        for record, label, score in zip(records, labels, scores, strict=True)
    )


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
