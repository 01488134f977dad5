"""One thin entry point per DVC stage: read params, call the core, write files, print progress.

Expected failures (bad config, bad data, unreadable source) end the stage with exit code 1 and
a message that says what to fix, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_template.core.config import ConfigError
from mlops_template.core.errors import DataSourceError, StageFailed

__all__ = ["EXPECTED_ERRORS", "StageFailed", "log", "run", "write_json"]


EXPECTED_ERRORS: tuple[type[Exception], ...] = (ConfigError, DataSourceError, StageFailed)


def log(stage: str, message: str) -> None:
    print(f"[{stage}] {message}", flush=True)


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def run(stage: str, main: Callable[[], None]) -> None:
    try:
        main()
    except EXPECTED_ERRORS as err:
        print(f"[{stage}] ERROR: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
