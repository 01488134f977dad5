"""Drift statistics of one window of served inputs against the reference profile (pure logic).

Per feature:
- the population stability index (PSI) over the reference bins (numeric: the quantile bins of the
  training data; categorical: the reference values, plus every value never seen in training, which only
  an open category lets through and which counts as drift; ``unseen_share`` reports its share), with a
  bucket for missing values when either side has some;
- a two-sample test: Kolmogorov-Smirnov on the binned distributions for numeric features (the
  reference keeps only bin counts, so the statistic is the largest CDF gap at the bin edges, a
  conservative version of the exact KS), chi-square on the 2 x K contingency table for categorical
  features.

A feature drifts when BOTH its PSI reaches ``psi_threshold`` (the shift is large enough to matter)
and its test's p-value is below ``p_value`` (it is not noise of a small window). The window drifts
when the share of drifted features reaches ``drift_share``.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlops_template.config import MonitorParams
from mlops_template.monitoring.profile import bin_counts, category_key

EPS = 1e-4  # floor of a bucket's share in the PSI (an empty bucket would make it infinite)


@dataclass
class FeatureDrift:
    feature: str
    kind: str
    test: str
    psi: float
    statistic: float
    p_value: float
    drifted: bool
    rows: int
    missing_share_reference: float
    missing_share_current: float
    buckets: list[str]
    reference_share: list[float]
    current_share: list[float]
    new_values: dict[str, int] = field(default_factory=dict)
    unseen_share: float = 0.0  # categorical: share of the present values never seen in training
    invalid_values: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors over the same buckets."""
    p = np.clip(reference / max(reference.sum(), 1), EPS, None)
    q = np.clip(current / max(current.sum(), 1), EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_binned(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """KS statistic and asymptotic p-value from bin counts (CDF gap at the bin edges)."""
    n, m = reference.sum(), current.sum()
    if n == 0 or m == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(np.cumsum(reference) / n - np.cumsum(current) / m)))
    en = n * m / (n + m)
    return d, float(stats.kstwo.sf(d, max(round(en), 1)))


def chi2_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x K table (buckets empty on both sides dropped)."""
    table = np.vstack([reference, current]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    bounds = [f"{e:.4g}" for e in edges]
    return [f"<= {bounds[0]}"] + [f"({a}, {b}]" for a, b in itertools.pairwise(bounds)] + [f"> {bounds[-1]}"]


def numeric_drift(name: str, ref: dict[str, Any], values: pd.Series, params: MonitorParams) -> FeatureDrift:
    present = values.notna()
    as_number = pd.to_numeric(values[present], errors="coerce")
    invalid = int(as_number.isna().sum())  # e.g. a string where a number belongs: counted as missing
    numbers = as_number.dropna().astype("float64").to_numpy()
    ref_counts = np.asarray(ref["counts"], dtype=float)
    cur_counts = np.asarray(bin_counts(numbers, ref["edges"]), dtype=float)
    ref_missing, cur_missing = float(ref["missing"]), float(len(values) - len(numbers))
    labels = _bin_labels(ref["edges"])
    stat, p = ks_binned(ref_counts, cur_counts)
    if ref_missing or cur_missing:
        ref_counts, cur_counts = np.append(ref_counts, ref_missing), np.append(cur_counts, cur_missing)
        labels = [*labels, "missing"]
        # a change in the missing share is tested too: the smaller p-value of the two tests counts
        _, p_missing = chi2_two_sample(
            np.array([ref_counts[:-1].sum(), ref_missing]), np.array([len(numbers), cur_missing])
        )
        p = min(p, p_missing)
    return _feature_drift(
        name, "numeric", "ks", ref_counts, cur_counts, labels, stat, p, params, len(values), ref_missing, cur_missing,
        invalid_values=invalid,
    )  # fmt: skip


def categorical_drift(name: str, ref: dict[str, Any], values: pd.Series, params: MonitorParams) -> FeatureDrift:
    current = values.dropna().map(category_key).value_counts()
    known = list(ref["counts"])
    new = {str(k): int(v) for k, v in current.items() if k not in ref["counts"]}
    labels = known + [f"{k} (new)" for k in new]
    ref_counts = np.array([ref["counts"][k] for k in known] + [0] * len(new), dtype=float)
    cur_counts = np.array([int(current.get(k, 0)) for k in known] + list(new.values()), dtype=float)
    ref_missing, cur_missing = float(ref["missing"]), float(values.isna().sum())
    if ref_missing or cur_missing:
        ref_counts, cur_counts = np.append(ref_counts, ref_missing), np.append(cur_counts, cur_missing)
        labels = [*labels, "missing"]
    stat, p = chi2_two_sample(ref_counts, cur_counts)
    # A new value of an open category is valid input, and it is drift: its own bucket, empty in the reference.
    # (A closed category's unknown values never get here: validation rejects them.)
    unseen = sum(new.values()) / max(int(current.sum()), 1)
    return _feature_drift(
        name, "categorical", "chi2", ref_counts, cur_counts, labels, stat, p, params, len(values), ref_missing,
        cur_missing, new_values=new, unseen_share=unseen,
    )  # fmt: skip


def _feature_drift(
    name: str,
    kind: str,
    test: str,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    labels: list[str],
    stat: float,
    p: float,
    params: MonitorParams,
    rows: int,
    ref_missing: float,
    cur_missing: float,
    **extra: Any,
) -> FeatureDrift:
    """One feature's verdict: it drifts when the PSI reaches the threshold AND the test's p-value is below it."""
    value = psi(ref_counts, cur_counts)
    return FeatureDrift(
        feature=name,
        kind=kind,
        test=test,
        psi=value,
        statistic=stat,
        p_value=p,
        drifted=bool(value >= params.psi_threshold and p < params.p_value),
        rows=rows,
        missing_share_reference=ref_missing / max(ref_counts.sum(), 1),
        missing_share_current=cur_missing / max(rows, 1),
        buckets=labels,
        reference_share=_shares(ref_counts),
        current_share=_shares(cur_counts),
        **extra,
    )


@dataclass
class DriftResult:
    rows: int
    features: list[FeatureDrift]
    drift_share: float
    drift: bool

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]


def compare(profile: dict[str, Any], window: pd.DataFrame, params: MonitorParams) -> DriftResult:
    """Every profiled feature of ``window`` against the reference; a feature absent from the window
    counts as all-missing (and so drifts, unless it was mostly missing in training too)."""
    results = []
    for name in profile["features"]:
        ref = profile["columns"][name]
        values = window[name] if name in window.columns else pd.Series([None] * len(window), dtype=object)
        if ref["kind"] == "numeric":
            result = numeric_drift(name, ref, values, params)
        else:
            result = categorical_drift(name, ref, values, params)
        if name not in window.columns:
            result.note = "absent from every logged record"
        results.append(result)
    share = sum(f.drifted for f in results) / max(len(results), 1)
    return DriftResult(len(window), results, share, bool(results) and share >= params.drift_share)
