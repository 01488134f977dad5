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

A feature drifts when BOTH its shift is large enough to matter (its PSI reaches ``psi_threshold``, or, numeric
features, its normed Wasserstein distance reaches :data:`WASSERSTEIN_THRESHOLD`) AND its test's p-value is below
``p_value`` (it is not noise of a small window). The window drifts when the share of drifted features reaches
``drift_share``. The Wasserstein distance is Evidently's default for numeric columns (normed by the reference's
standard deviation, threshold 0.1); PSI alone missed a standard deviation 1.5x wider with an unchanged mean
(its PSI is about 0.19 over 10 quantile bins): benchmarks/results/drift.md compares the two side by side.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlops_template.core.config import MonitorParams
from mlops_template.core.profile import bin_counts, category_key

EPS = 1e-4  # floor of a bucket's share in the PSI (an empty bucket would make it infinite)
WASSERSTEIN_THRESHOLD = 0.1  # normed Wasserstein distance that counts as a large shift (Evidently's default)


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
    wasserstein: float = 0.0  # numeric features: normed Wasserstein distance to the reference
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors over the same buckets."""
    p = np.clip(reference / max(reference.sum(), 1), EPS, None)
    q = np.clip(current / max(current.sum(), 1), EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def wasserstein_normed(ref: dict[str, Any], numbers: np.ndarray) -> float:
    """Wasserstein-1 distance between the reference and ``numbers`` (the area between their CDFs), divided by the
    reference's standard deviation, as Evidently norms it.

    The profile keeps no raw values, so both CDFs are taken at the same points, where the reference's is known:
    its bin edges (cumulative bin shares), its min, 1st and 99th percentiles and max; the area between those points
    is the trapezoid's, outside [min, max] it is exact. Both sides are discretised alike, so an unchanged window
    is not biased upwards (a coarse grid slightly underestimates a real shift)."""
    summary = ref.get("summary") or {}
    total = float(sum(ref["counts"]))
    if not len(numbers) or not total or summary.get("min") is None:
        return 0.0
    lo, hi = float(summary["min"]), float(summary["max"])
    points = [lo, summary.get("p01", lo), *ref["edges"], summary.get("p99", hi), hi]
    levels = [0.0, 0.01, *(np.cumsum(ref["counts"][:-1]) / total), 0.99, 1.0]
    x, order = np.unique(np.asarray(points, dtype=float), return_index=True)
    f_ref = np.maximum.accumulate(np.asarray(levels)[order])
    values = np.sort(numbers)
    f_cur = np.searchsorted(values, x, side="right") / len(values)
    gap = np.abs(f_ref - f_cur)
    area = float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(x)))
    area += float(np.sum(np.clip(lo - values, 0, None)) + np.sum(np.clip(values - hi, 0, None))) / len(values)
    return area / max(float(summary.get("std") or 0.0), 1e-3)


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
    distance = wasserstein_normed(ref, numbers)
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
        invalid_values=invalid, wasserstein=distance,
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
    """One feature's verdict: it drifts when the PSI or the normed Wasserstein distance reaches its threshold AND the
    test's p-value is below it."""
    value = psi(ref_counts, cur_counts)
    large = value >= params.psi_threshold or extra.get("wasserstein", 0.0) >= WASSERSTEIN_THRESHOLD
    return FeatureDrift(
        feature=name,
        kind=kind,
        test=test,
        psi=value,
        statistic=stat,
        p_value=p,
        drifted=bool(large and p < params.p_value),
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
