"""The reference profile: per feature, the distribution summary the drift tests need (pure logic).

Numeric features keep quantile bin edges of the training data and the count per bin (plus a
summary); boolean and string features keep their value counts. Missing values are counted apart.
The profile is derived from the one schema: which columns are features, and which kind each is
(mlops_template.core.data.kinds: dates are not profiled, time always moves on).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops_template.core.data import kinds
from mlops_template.core.data.schema import SchemaSpec

PROFILE_VERSION = 1


def category_key(value: Any) -> str:
    """How a categorical value is keyed in the profile and in the served window (bools as True/False)."""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    return str(value)


def bin_edges(values: np.ndarray, bins: int) -> list[float]:
    """Interior quantile edges (bins - 1 at most, duplicates dropped); bin i is (edge[i-1], edge[i]]."""
    if len(values) == 0:
        return []
    qs = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    edges = np.unique(qs)
    # The top edge equal to the maximum would leave the last bin empty on the training data itself.
    edges = edges[edges < values.max()]
    return [float(e) for e in edges]


def bin_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    idx = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    return [int(c) for c in np.bincount(idx, minlength=len(edges) + 1)]


def numeric_profile(series: pd.Series, bins: int, dtype: str) -> dict[str, Any]:
    raw = pd.to_numeric(series, errors="coerce").astype("float64")
    values = raw.dropna().to_numpy()
    edges = bin_edges(values, bins)
    summary: dict[str, float | None] = {"mean": None, "std": None, "min": None, "max": None}
    if len(values):
        q = np.quantile(values, [0.01, 0.25, 0.5, 0.75, 0.99])
        summary = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            **{f"p{int(p * 100):02d}": float(v) for p, v in zip([0.01, 0.25, 0.5, 0.75, 0.99], q, strict=True)},
        }
    return {
        "kind": "numeric",
        "dtype": dtype,
        "edges": edges,
        "counts": bin_counts(values, edges),
        "missing": int(raw.isna().sum()),
        "summary": summary,
    }


def categorical_profile(series: pd.Series, dtype: str, open_category: bool = False) -> dict[str, Any]:
    """Value counts; ``open_category``: an open category, where a value unseen in training is valid (and is drift)."""
    present = series.dropna()
    counts = present.map(category_key).value_counts(sort=True)
    return {
        "kind": "categorical",
        "dtype": dtype,
        "open": open_category,
        "counts": {str(k): int(v) for k, v in counts.items()},
        "missing": int(series.isna().sum()),
    }


def build_profile(frame: pd.DataFrame, spec: SchemaSpec, features: list[str], bins: int) -> dict[str, Any]:
    """The reference profile of ``frame`` (the training split) for the schema's ``features``."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"reference profile: feature column(s) {', '.join(missing)} not in the training data")
    columns: dict[str, Any] = {}
    for name in features:
        col = spec.columns[name]
        kind = kinds.profile_kind(col)  # the column kind registry decides; None: not profiled (dates)
        if kind == "numeric":
            columns[name] = numeric_profile(frame[name], bins, col.dtype)
        elif kind == "categorical":
            columns[name] = categorical_profile(frame[name], col.dtype, open_category=kinds.is_open(col))
    profiled = [name for name in features if name in columns]
    return {"version": PROFILE_VERSION, "rows": len(frame), "bins": bins, "features": profiled, "columns": columns}
