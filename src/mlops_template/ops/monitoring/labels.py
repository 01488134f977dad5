"""Ground-truth labels for the performance monitor: rows of ``<data.id_column>``, ``<data.target>`` and
optionally ``ts`` (when the label became known), read like the prediction log (ops/monitoring/window.py): a
path, a glob or an fsspec URL (``s3://bucket/labels/*.parquet``), in CSV, Parquet or JSONL (chosen by the
file name: ``.csv``, ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``/``.json``). ``POST /feedback`` writes
the JSONL form (``serving.feedback_log_path``).

Unreadable JSONL lines are skipped and counted (the join then bounds them with the other bad rows); a
missing id or target column in a CSV/Parquet file, a missing source or an unknown format is an error that
names what to fix. An empty source is not an error: there are no labels yet.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_template.core.errors import DataSourceError
from mlops_template.ops.monitoring.window import jsonl_values

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass
class Labels:
    frame: pd.DataFrame  # columns id, y, ts (ts NaT when the source has none)
    malformed: int = 0  # unreadable JSONL lines
    malformed_examples: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def format_of(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    for suffix, kind in FORMATS.items():
        if name.endswith(suffix):
            return kind
    raise DataSourceError(
        f"labels {path}: unknown format: name the files *.csv, *.parquet or *.jsonl (one label per row)"
    )


def parse_jsonl(text: str, origin: str) -> tuple[list[dict[str, Any]], int, list[str]]:
    """The label rows (JSON objects) of one JSONL text; count and describe the other lines."""
    return jsonl_values(text, origin, lambda row: "" if isinstance(row, dict) else "not a JSON object")


def _table(data: bytes, kind: str, origin: str, id_column: str, target: str) -> pd.DataFrame:
    if kind == "parquet":
        frame = pd.read_parquet(io.BytesIO(data))
    else:
        frame = pd.read_csv(io.BytesIO(data)) if data.strip() else pd.DataFrame()
    if frame.empty and not len(frame.columns):
        return pd.DataFrame(columns=[id_column, target])
    roles = ((id_column, "data.id_column"), (target, "data.target"))
    missing = [f"`{c}` ({role})" for c, role in roles if c not in frame.columns]
    if missing:
        raise DataSourceError(
            f"labels {origin}: no column {' and '.join(missing)}; "
            f"its columns are {', '.join(map(str, frame.columns))}. "
            f"A labels file has one row per labelled prediction: {id_column}, {target}, optionally ts"
        )
    return frame


def _open(location: str) -> list[Any]:
    import fsspec

    try:
        files = fsspec.open_files(location, mode="rb", compression="infer")
    except Exception as err:  # unknown protocol, missing credentials, ...
        raise DataSourceError(f"labels {location}: cannot open: {type(err).__name__}: {err}") from None
    if not files:
        raise DataSourceError(
            f"labels {location}: no such file. Point LABELS= (or $PREDICTION_LABELS) at the labels your "
            "application ships, or at the /feedback log (docs/continuous-training.md)"
        )
    return sorted(files, key=lambda f: f.path)


def read_labels(location: str, id_column: str, target: str) -> Labels:
    """Every label row of the source, as id, y, ts (pure reading: validation happens at the join)."""
    frames, malformed, examples, names = [], 0, list[str](), []
    for f in _open(location):
        kind = format_of(f.path)
        try:
            with f as handle:
                data = handle.read()
            if kind == "jsonl":
                rows, bad, why = parse_jsonl(data.decode("utf-8"), f.path)
                malformed += bad
                examples += why[: 5 - len(examples)]
                frame = pd.DataFrame.from_records(rows)
            else:
                frame = _table(data, kind, f.path, id_column, target)
        except DataSourceError:
            raise
        except Exception as err:  # unreadable bytes, a corrupt Parquet file, ...
            raise DataSourceError(f"labels {f.path}: cannot read as {kind}: {type(err).__name__}: {err}") from None
        names.append(f.path)
        frames.append(frame.reindex(columns=[id_column, target, "ts"]))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[id_column, target, "ts"])
    ts = pd.to_datetime(table["ts"], utc=True, errors="coerce", format="ISO8601")
    frame = pd.DataFrame({"id": table[id_column].to_numpy(), "y": table[target].to_numpy(), "ts": ts})
    return Labels(frame, malformed, examples, names)
