"""The window of served inputs: read prediction-log JSONL (``ops/serving/predlog.py`` format), keep the
readable lines, the last ``window_hours`` hours and the last ``window`` records.

The log can be a local file, a glob of files (rotated logs), or any fsspec URL the project can read
(``s3://bucket/prefix/*.jsonl`` with credentials from the environment). Unreadable lines are
skipped and counted, never fatal on their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from mlops_template.core.errors import DataSourceError


@dataclass
class Window:
    frame: pd.DataFrame  # one row per record, columns = the logged inputs
    lines: int  # non-empty lines read
    malformed: int
    malformed_examples: list[str] = field(default_factory=list)  # "file:line: why"
    outside_window: int = 0
    model_versions: dict[str, int] = field(default_factory=dict)
    first_ts: str | None = None
    last_ts: str | None = None
    files: list[str] = field(default_factory=list)
    # every readable champion prediction of the log (not only the window): id, label, score, ts; the
    # performance monitor joins ground-truth labels to it (ops/monitoring/performance.py)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


# one line of a JSONL text: (line number, the JSON value, why it is not JSON or None)
ParsedLine = tuple[int, Any, str | None]


def parse_json_lines(text: str) -> list[ParsedLine]:
    """Every non-empty line of a JSONL text, parsed once (a line that is not JSON keeps why)."""
    parsed: list[ParsedLine] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.append((number, json.loads(line), None))
        except json.JSONDecodeError as err:
            parsed.append((number, None, f"not JSON ({err.msg})"))
    return parsed


def judge_lines(
    parsed: list[ParsedLine], origin: str, judge: Callable[[Any], str | None]
) -> tuple[list[Any], int, list[str]]:
    """The JSON values ``judge`` keeps; count and describe the other lines.

    ``judge(value)`` returns "" to keep the value, None to skip it silently, or why the line is unusable."""
    kept: list[Any] = []
    bad, examples = 0, list[str]()
    for number, value, not_json in parsed:
        why = not_json if not_json is not None else judge(value)
        if why == "":
            kept.append(value)
        if why is None or why == "":
            continue
        bad += 1
        if len(examples) < 5:
            examples.append(f"{origin}:{number}: {why}")
    return kept, bad, examples


def jsonl_values(text: str, origin: str, judge: Callable[[Any], str | None]) -> tuple[list[Any], int, list[str]]:
    """The JSON values of one JSONL text that ``judge`` keeps; count and describe the other lines.

    The one reader of JSONL lines: the prediction log (drift window, shadow comparison) and the labels."""
    return judge_lines(parse_json_lines(text), origin, judge)


@dataclass
class LogLines:
    """The prediction log read and parsed once per monitor run: (file name, its parsed lines) per file. The drift
    window and the live-performance join (:func:`window_of`) and the shadow comparison (ops/monitoring/shadow.py)
    all take their rows from it."""

    files: list[tuple[str, list[ParsedLine]]]


def read_log_lines(location: str) -> LogLines:
    """Read every file of the prediction log (path, glob or fsspec URL) and parse its lines, once."""
    return LogLines([(name, parse_json_lines(text)) for name, text in read_texts(location)])


def _champion_entry(entry: Any) -> str | None:
    """A drift-window entry ("" and ``_ts`` set), a challenger line (None: skipped), or why it is unusable."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    if entry.get("role") == "challenger":
        return None  # shadow scoring (no inputs): the drift window uses champion lines; see ops/monitoring/shadow.py
    if not isinstance(entry.get("inputs"), dict):
        return "no `inputs` object"
    if (ts := _parse_ts(entry.get("ts"))) is None:
        return "no ISO-8601 `ts`"
    entry["_ts"] = ts
    return ""


def _copy(value: Any) -> Any:
    # the window adds ``_ts`` to its entries: a shallow copy keeps the parsed lines as they were read
    return dict(value) if isinstance(value, dict) else value


def read_texts(location: str) -> list[tuple[str, str]]:
    """(name, text) of every file the location names: a path, a glob, or an fsspec URL/glob."""
    import fsspec

    try:
        files = fsspec.open_files(location, mode="rt", encoding="utf-8")
    except Exception as err:  # unknown protocol, missing credentials, ...
        raise DataSourceError(f"prediction log {location}: cannot open: {type(err).__name__}: {err}") from None
    hint = (
        "Serve with serving.prediction_log: true (or MLOPS_PREDICTION_LOG=1) to write one, "
        "or point LOG= at the shipped log (docs/continuous-training.md)."
    )
    if not files:
        raise DataSourceError(f"prediction log {location}: no such file. {hint}")
    texts = []
    for f in sorted(files, key=lambda f: f.path):
        try:
            with f as handle:
                texts.append((f.path, handle.read()))
        except FileNotFoundError:
            raise DataSourceError(f"prediction log {f.path}: no such file. {hint}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise DataSourceError(f"prediction log {f.path}: cannot read: {type(err).__name__}: {err}") from None
    return texts


def predictions_of(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """The champion predictions (lines without ``role`` are champion lines) as id, label, score, ts."""
    rows = [
        {"id": e.get("id"), "label": e.get("label"), "score": e.get("score"), "ts": e["_ts"]}
        for e in entries
        if e.get("role", "champion") == "champion"
    ]
    return pd.DataFrame(rows, columns=["id", "label", "score", "ts"])


def read_window(location: str, window: int, window_hours: float | None, now: datetime | None = None) -> Window:
    """The window of the prediction log at ``location`` (read here; :func:`window_of` takes lines already read)."""
    return window_of(read_log_lines(location), window, window_hours, now)


def window_of(log: LogLines, window: int, window_hours: float | None, now: datetime | None = None) -> Window:
    """The drift window (last ``window_hours`` hours, last ``window`` records) of lines read by read_log_lines."""
    entries: list[dict[str, Any]] = []
    lines = malformed = 0
    examples: list[str] = []
    for name, parsed in log.files:
        found, bad, why = judge_lines([(n, _copy(v), e) for n, v, e in parsed], name, _champion_entry)
        entries += found
        lines += len(found) + bad
        malformed += bad
        examples += why[: 5 - len(examples)]
    entries.sort(key=lambda e: e["_ts"])
    total = len(entries)
    predictions = predictions_of(entries)
    if window_hours is not None:
        start = (now or datetime.now(UTC)) - timedelta(hours=window_hours)
        entries = [e for e in entries if e["_ts"] >= start]
    entries = entries[-window:]
    versions: dict[str, int] = {}
    for e in entries:
        key = str(e.get("model_version", "?"))
        versions[key] = versions.get(key, 0) + 1
    return Window(
        frame=pd.DataFrame.from_records([e["inputs"] for e in entries]) if entries else pd.DataFrame(),
        lines=lines,
        malformed=malformed,
        malformed_examples=examples,
        outside_window=total - len(entries),
        model_versions=versions,
        first_ts=entries[0]["_ts"].isoformat() if entries else None,
        last_ts=entries[-1]["_ts"].isoformat() if entries else None,
        files=[name for name, _ in log.files],
        predictions=predictions,
    )
