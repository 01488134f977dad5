"""Read the configured data source into a DataFrame.

``data.source`` is either ``sklearn:<name>`` (a dataset bundled with scikit-learn, offline) or a
CSV/Parquet path or URL that fsspec can open (local path, ``s3://``, ``gs://``, ``https://`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import fsspec
import pandas as pd

from mlops_template.core.errors import DataSourceError

SKLEARN_PREFIX = "sklearn:"
BUNDLED_DATASETS = ("breast_cancer", "diabetes", "iris", "wine")

__all__ = ["BUNDLED_DATASETS", "DataSourceError", "extract", "read_table"]


def snake_case(name: str) -> str:
    """``"mean radius"`` -> ``"mean_radius"``; keeps names valid as Python identifiers and JSON fields."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip()).strip("_").lower()
    return name or "column"


def load_sklearn_dataset(name: str, target: str, id_column: str) -> pd.DataFrame:
    """A bundled scikit-learn dataset as one frame: id column, snake_case features, target."""
    if name not in BUNDLED_DATASETS:
        known = ", ".join(BUNDLED_DATASETS)
        raise DataSourceError(f"data.source: unknown bundled dataset 'sklearn:{name}' (known: {known})")
    from sklearn import datasets  # imported here: only this source needs scikit-learn

    loader: Callable[..., object] = getattr(datasets, f"load_{name}")
    bunch = loader(as_frame=True)
    features: pd.DataFrame = bunch.frame.drop(columns=["target"])  # type: ignore[attr-defined]
    features.columns = [snake_case(str(c)) for c in features.columns]
    frame = features.astype("float64")
    frame.insert(0, id_column, pd.RangeIndex(len(frame)).astype("int64"))
    frame[target] = bunch.target.to_numpy()  # type: ignore[attr-defined]  # int labels, float for regression
    return frame.reset_index(drop=True)


def _infer_format(source: str, declared: str) -> str:
    if declared != "auto":
        return declared
    lowered = source.lower().split("?", 1)[0]
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    if lowered.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    raise DataSourceError(
        f"data.source: cannot tell the format of {source!r} from its name; set data.format to 'csv' or 'parquet'"
    )


def read_table(source: str, fmt: str = "auto") -> pd.DataFrame:
    """Read a CSV or Parquet file from any fsspec URL, with errors that say what to fix."""
    fmt = _infer_format(source, fmt)
    try:
        with fsspec.open(source, "rb") as handle:
            if fmt == "parquet":
                frame = pd.read_parquet(handle)
            else:
                sep = "\t" if source.lower().endswith(".tsv") else ","
                frame = pd.read_csv(handle, sep=sep)
    except FileNotFoundError:
        hint = ""
        if "://" not in source and not Path(source).is_absolute():
            hint = " (relative paths are resolved from the repository root; put local files in data/source/)"
        raise DataSourceError(f"data.source: file not found: {source!r}{hint}") from None
    except pd.errors.EmptyDataError:
        raise DataSourceError(f"data.source: {source!r} is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as err:
        raise DataSourceError(f"data.source: cannot read {source!r} as {fmt}: {type(err).__name__}: {err}") from None
    if frame.columns.empty:
        raise DataSourceError(f"data.source: {source!r} has no columns")
    return frame


def drop_missing_labels(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """The rows that have a label, and how many were dropped (``data.missing_labels: drop``)."""
    if target not in frame.columns:
        return frame, 0
    keep = frame[target].notna()
    return frame[keep].reset_index(drop=True), int((~keep).sum())


def extract(source: str, fmt: str, target: str, id_column: str) -> pd.DataFrame:
    """Load the configured source. The result is NOT validated yet: that is the validate stage's job."""
    if source.startswith(SKLEARN_PREFIX):
        return load_sklearn_dataset(source[len(SKLEARN_PREFIX) :], target, id_column)
    return read_table(source, fmt)
