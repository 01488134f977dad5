"""What changed between the baseline and the candidate: params, data, schema (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_template.core.data.schema import SchemaSpec

MISSING = "—"


@dataclass(frozen=True)
class Change:
    key: str
    baseline: Any
    candidate: Any


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"linear": {"C": 1}}}`` -> ``{"model.linear.C": 1}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def params_diff(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[Change]:
    """Changed, added and removed keys of two params.yaml mappings (what ``dvc params diff`` shows)."""
    a, b = flatten(baseline), flatten(candidate)
    return [
        Change(k, a.get(k, MISSING), b.get(k, MISSING)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
    ]


def schema_diff(baseline: SchemaSpec | None, candidate: SchemaSpec | None) -> list[Change]:
    """Columns added/removed and every changed column attribute, plus table-level rules."""
    if baseline is None or candidate is None:
        return []
    changes: list[Change] = []
    for key in ("min_rows", "unique_rows"):
        if getattr(baseline, key) != getattr(candidate, key):
            changes.append(Change(key, getattr(baseline, key), getattr(candidate, key)))
    for col in sorted(baseline.columns.keys() | candidate.columns.keys()):
        old, new = baseline.columns.get(col), candidate.columns.get(col)
        if old is None and new is not None:
            changes.append(Change(f"column {col}", "(absent)", f"added ({new.dtype})"))
        elif new is None and old is not None:
            changes.append(Change(f"column {col}", old.dtype, "(removed)"))
        elif old is not None and new is not None:
            a, b = old.model_dump(), new.model_dump()
            changes += [Change(f"{col}.{k}", a[k], b[k]) for k in a if a[k] != b[k]]
    return changes


@dataclass(frozen=True)
class DataSide:
    """Facts about one side's data, gathered by the I/O layer."""

    raw_rows: int | None
    train_rows: int | None
    test_rows: int
    raw_md5: str | None
    test_md5: str
    label_balance: dict[str, float]  # class -> share of rows (raw data; the test split when raw is unknown)


@dataclass(frozen=True)
class DataDiff:
    baseline: DataSide
    candidate: DataSide
    same_test_rows: bool
    schema_changes: list[Change] = field(default_factory=list)


def label_balance(labels: pd.Series, classification: bool) -> dict[str, float]:
    if not classification:
        return {"mean": round(float(labels.mean()), 4), "std": round(float(labels.std()), 4)}
    shares = labels.value_counts(normalize=True).sort_index()
    return {str(k): round(float(v), 4) for k, v in shares.items()}


def same_rows(a: pd.DataFrame, b: pd.DataFrame, id_column: str) -> bool:
    """Identical test sets: same columns, same ids, same values (row order aside)."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    key = id_column if id_column in a.columns else list(a.columns)
    sa = a.sort_values(key).reset_index(drop=True)
    sb = b.sort_values(key).reset_index(drop=True)
    return bool(sa.equals(sb))
