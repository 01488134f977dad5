"""Bootstrap intervals, verdicts and gate rules of the PR comparison (pure logic, synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_template.config import CompareParams, ConfigError, parse_params
from mlops_template.evaluation.compare import (
    MetricComparison,
    bootstrap_deltas,
    compare_predictions,
    evaluate_gate,
    percentile_interval,
    primary_metric_of,
    verdict_of,
)
from mlops_template.evaluation.metrics import Predictions


def _accuracy(correct: np.ndarray):
    return lambda idx: {"accuracy": float(correct[idx].mean())}


def _coverage(paired: bool, sims: int = 300, n: int = 200, resamples: int = 400) -> float:
    """Share of simulations whose interval covers the true accuracy difference (0.85 - 0.80 = 0.05)."""
    rng = np.random.default_rng(7)
    hits = 0
    for sim in range(sims):
        u = rng.random(n)
        base = u < 0.80  # correlated models, as two models scored on the same rows are
        cand = (u < 0.85) if paired else (rng.random(n) < 0.85)
        deltas, kept = bootstrap_deltas(_accuracy(base), _accuracy(cand), n, n, paired, resamples, seed=sim)
        assert kept == resamples
        low, high = percentile_interval(deltas["accuracy"], 0.95)
        hits += low <= 0.05 <= high
    return hits / sims


@pytest.mark.parametrize("paired", [True, False])
def test_bootstrap_interval_covers_the_true_delta_about_95_percent(paired: bool) -> None:
    coverage = _coverage(paired)
    # binomial sd of a 95% rate over 300 runs is 1.3 points; percentile bootstrap runs slightly under nominal
    assert 0.90 <= coverage <= 0.99, coverage


def test_bootstrap_is_seeded_and_paired_intervals_are_tighter() -> None:
    rng = np.random.default_rng(0)
    u = rng.random(300)
    base, cand = u < 0.8, u < 0.85
    a, _ = bootstrap_deltas(_accuracy(base), _accuracy(cand), 300, 300, True, 300, seed=1)
    b, _ = bootstrap_deltas(_accuracy(base), _accuracy(cand), 300, 300, True, 300, seed=1)
    c, _ = bootstrap_deltas(_accuracy(base), _accuracy(cand), 300, 300, False, 300, seed=1)
    assert np.array_equal(a["accuracy"], b["accuracy"])
    assert np.ptp(percentile_interval(a["accuracy"], 0.95)) < np.ptp(percentile_interval(c["accuracy"], 0.95))


def test_paired_bootstrap_needs_equal_sizes() -> None:
    with pytest.raises(ValueError, match="equal test sets"):
        bootstrap_deltas(_accuracy(np.ones(3)), _accuracy(np.ones(4)), 3, 4, True, 10, seed=0)


def test_unscorable_resamples_are_skipped() -> None:
    calls = iter(range(1000))

    def flaky(idx: np.ndarray) -> dict[str, float]:
        if next(calls) % 4 == 0:
            raise ValueError("only one class in this resample")
        return {"m": 1.0}

    deltas, kept = bootstrap_deltas(flaky, lambda idx: {"m": 2.0}, 5, 5, True, 100, seed=0)
    assert kept == 75 and np.all(deltas["m"] == 1.0)


@pytest.mark.parametrize(
    ("low", "high", "higher_is_better", "expected"),
    [
        (0.001, 0.02, True, "improved"),
        (0.0, 0.02, True, "no significant change"),  # touching zero is not significant
        (-0.02, 0.01, True, "no significant change"),
        (-0.02, -0.001, True, "regressed"),
        (-0.02, 0.0, True, "no significant change"),
        (0.0, 0.0, True, "no significant change"),
        (-0.02, -0.001, False, "improved"),  # lower is better: a negative delta is good
        (0.001, 0.02, False, "regressed"),
    ],
)
def test_verdict_edges(low: float, high: float, higher_is_better: bool, expected: str) -> None:
    assert verdict_of(low, high, higher_is_better) == expected


def _row(delta: float, low: float, high: float, hib: bool = True, name: str = "roc_auc") -> MetricComparison:
    base = 0.9
    return MetricComparison(name, base, base + delta, delta, low, high, hib, verdict_of(low, high, hib))


def test_gate_fails_on_significant_drop_beyond_allowance_and_says_why() -> None:
    params = CompareParams(max_drop=0.01)
    failed = evaluate_gate(params, _row(-0.05, -0.08, -0.02), {"roc_auc": 0.85})
    assert not failed.passed
    assert "roc_auc regressed" in failed.reasons[0] and "allowed drop 0.01" in failed.reasons[0]
    # significant but within the allowed drop: passes
    within = evaluate_gate(params, _row(-0.01, -0.015, -0.005), {"roc_auc": 0.89})
    assert within.passed and "within the allowed drop 0.01" in within.checks[0]
    # large but not significant drop: passes
    assert evaluate_gate(params, _row(-0.05, -0.1, 0.001), {"roc_auc": 0.85}).passed
    # lower-is-better primary: an increase is the regression
    assert not evaluate_gate(CompareParams(), _row(0.05, 0.02, 0.08, hib=False, name="rmse"), {"rmse": 1.0}).passed


def test_gate_floors_size_and_latency_limits() -> None:
    params = CompareParams(floors={"roc_auc": 0.95, "log_loss": 0.3}, max_model_size_mb=1.0, max_latency_ms=5.0)
    ok_row = _row(0.0, -0.01, 0.01)
    ok = evaluate_gate(params, ok_row, {"roc_auc": 0.95, "log_loss": 0.3}, model_size_mb=1.0, latency_ms=5.0)
    assert ok.passed, ok.reasons  # limits are inclusive
    bad = evaluate_gate(params, ok_row, {"roc_auc": 0.949, "log_loss": 0.31}, model_size_mb=1.5, latency_ms=7.0)
    assert not bad.passed
    text = "\n".join(bad.reasons)
    for expected in ("roc_auc >= 0.95", "log_loss <= 0.3", "model size 1.500 MB", "latency 7.00 ms"):
        assert expected in text


def test_compare_params_reject_unknown_metric_names() -> None:
    with pytest.raises(ConfigError, match=r"compare.*floors: unknown metric 'auc'"):
        parse_params({"compare": {"floors": {"auc": 0.9}}})
    with pytest.raises(ConfigError, match=r"compare\.max_dropp: unknown key"):
        parse_params({"compare": {"max_dropp": 0.1}})


def test_primary_metric_must_belong_to_the_task() -> None:
    assert primary_metric_of(CompareParams(), "binary", {"roc_auc": 1.0}) == "roc_auc"
    with pytest.raises(ConfigError, match=r"compare.primary_metric: 'rmse' is not a metric of task 'binary'"):
        primary_metric_of(CompareParams(primary_metric="rmse"), "binary", {"roc_auc": 1.0})


def _binary_predictions(score: np.ndarray, y: np.ndarray) -> Predictions:
    proba = np.c_[1 - score, score]
    return Predictions(np.arange(len(y)), y, (score >= 0.5).astype(int), proba, np.array([0, 1]))


def test_compare_predictions_identical_models_and_a_clearly_worse_one() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 150)
    good = np.clip(y * 0.6 + rng.random(150) * 0.4, 0.01, 0.99)
    params = CompareParams(bootstrap_resamples=100)
    same = compare_predictions("binary", _binary_predictions(good, y), _binary_predictions(good, y), params, True, 0)
    assert same.verdict == "no significant change" and same.gate.passed
    assert all(m.delta == 0 and m.ci_low == 0 and m.ci_high == 0 for m in same.metrics)

    noise = rng.random(150)
    worse = compare_predictions("binary", _binary_predictions(good, y), _binary_predictions(noise, y), params, True, 0)
    assert worse.primary_metric == "roc_auc"
    assert worse.verdict == "regressed" and not worse.gate.passed
    assert worse.metric("log_loss").verdict == "regressed"  # lower-is-better direction honoured
