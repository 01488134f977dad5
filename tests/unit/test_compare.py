"""Bootstrap intervals, verdicts and gate rules of the PR comparison (pure logic, synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_template.core.config import CompareParams, ConfigError, parse_params
from mlops_template.core.metric_catalogue import DEFAULT_MARGINS, margin_of
from mlops_template.core.metric_kernels import resample_counts
from mlops_template.core.metrics import Predictions, compute_metrics
from mlops_template.experiment.compare import (
    MetricComparison,
    bootstrap_deltas,
    compare_predictions,
    evaluate_gate,
    minimum_detectable,
    percentile_interval,
    primary_metric_of,
    verdict_of,
)
from mlops_template.experiment.formatting import num, signed
from mlops_template.experiment.resample import ResampledMetrics


def _accuracy(correct: np.ndarray):
    """Block metric: accuracy of each resample (a row of bootstrap counts)."""
    return lambda w: {"accuracy": w @ correct.astype(float) / w.sum(axis=1)}


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


def test_unpaired_bootstrap_of_different_sizes_in_several_blocks() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random(70_000) < 0.8, rng.random(90_000) < 0.85  # > 1 block of resamples on each side
    deltas, kept = bootstrap_deltas(_accuracy(a), _accuracy(b), 70_000, 90_000, False, 120, seed=0)
    assert kept == 120 and abs(float(np.median(deltas["accuracy"])) - (b.mean() - a.mean())) < 0.005


def test_paired_bootstrap_needs_equal_sizes() -> None:
    with pytest.raises(ValueError, match="equal test sets"):
        bootstrap_deltas(_accuracy(np.ones(3)), _accuracy(np.ones(4)), 3, 4, True, 10, seed=0)


def test_unscorable_resamples_are_dropped_per_metric() -> None:
    def flaky(w: np.ndarray) -> dict[str, np.ndarray]:
        values = np.ones(len(w))
        values[::4] = np.nan  # e.g. only one class drawn: AUC undefined
        return {"m": values}

    deltas, kept = bootstrap_deltas(flaky, lambda w: {"m": np.full(len(w), 2.0)}, 5, 5, True, 100, seed=0)
    assert kept == 75 and np.all(deltas["m"] == 1.0)


@pytest.mark.parametrize(
    ("delta", "low", "high", "higher_is_better", "margin", "expected"),
    [
        (0.01, 0.001, 0.02, True, 0.005, "improved"),
        (0.003, 0.001, 0.005, True, 0.005, "changed, but within the margin"),  # detectable, too small to matter
        (0.01, 0.0, 0.02, True, 0.005, "not detectable at this data size"),  # touching zero is not detectable
        (-0.005, -0.02, 0.01, True, 0.005, "not detectable at this data size"),  # a drop beyond the margin may hide
        (0.001, -0.004, 0.005, True, 0.005, "no detectable change"),  # the interval rules out a change that matters
        (-0.01, -0.02, -0.001, True, 0.005, "regressed"),
        (-0.005, -0.02, -0.001, True, 0.005, "changed, but within the margin"),  # equal to the margin: not beyond
        (-0.00003, -0.00005, -0.00001, True, 0.005, "changed, but within the margin"),  # 100k rows, C 1 -> 0.5
        (0.0, 0.0, 0.0, True, 0.0, "no detectable change"),
        (-0.01, -0.02, -0.001, False, 0.005, "improved"),  # lower is better: a negative delta is good
        (0.01, 0.001, 0.02, False, 0.005, "regressed"),
        (0.01, 0.001, 0.02, False, 0.0, "regressed"),  # margin 0: any detectable worsening
    ],
)
def test_verdict_needs_detectable_and_beyond_the_margin(
    delta: float, low: float, high: float, higher_is_better: bool, margin: float, expected: str
) -> None:
    assert verdict_of(delta, low, high, higher_is_better, margin) == expected


def _row(delta: float, low: float, high: float, hib: bool = True, name: str = "roc_auc", margin: float = 0.005):
    base = 0.9
    verdict = verdict_of(delta, low, high, hib, margin)
    return MetricComparison(name, base, base + delta, delta, low, high, hib, margin, verdict)


def test_gate_fails_only_beyond_the_margin_and_says_why() -> None:
    params = CompareParams()
    failed = evaluate_gate(params, _row(-0.05, -0.08, -0.02), {"roc_auc": 0.85})
    assert not failed.passed
    reason = failed.reasons[0]
    assert reason.startswith("roc_auc regressed beyond its margin") and "margin 0.005" in reason
    assert "delta -0.0500" in reason and "90% CI [-0.0800, -0.0200]" in reason
    within = evaluate_gate(params, _row(-0.004, -0.006, -0.002), {"roc_auc": 0.896})
    assert within.passed and "changed, but within the margin" in within.checks[0]
    assert evaluate_gate(params, _row(-0.05, -0.1, 0.001), {"roc_auc": 0.85}).passed  # large but not detectable
    # lower-is-better primary: an increase is the regression
    assert not evaluate_gate(params, _row(0.05, 0.02, 0.08, hib=False, name="rmse"), {"rmse": 1.0}).passed


def test_tiny_deltas_are_readable_never_minus_zero() -> None:
    row = _row(-0.00003, -0.00005, -0.00001)
    line = evaluate_gate(CompareParams(), row, {"roc_auc": 0.9}).checks[0]
    assert "-0.0000 " not in line and "-0.0000," not in line and "-0.0000]" not in line
    assert "delta -0.000030" in line and "[-0.000050, -0.000010]" in line
    assert signed(0.0) == "0" and num(-0.00000001) == "0" and signed(-1e-9) == "-1.0e-09"


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


def test_margins_default_per_metric_and_params_override() -> None:
    assert margin_of("roc_auc", 0.9, {}) == 0.005 and margin_of("roc_auc", 0.9, {"roc_auc": 0.02}) == 0.02
    assert margin_of("rmse", 20.0, {}) == pytest.approx(0.2)  # scale-dependent: 1% of the baseline
    assert all(v > 0 for v in DEFAULT_MARGINS.values())
    with pytest.raises(ConfigError, match=r"compare.*margins: unknown metric 'auc'"):
        parse_params({"compare": {"margins": {"auc": 0.01}}})
    with pytest.raises(ConfigError, match=r"compare\.margins\.roc_auc"):
        parse_params({"compare": {"margins": {"roc_auc": -0.1}}})


def test_compare_params_reject_unknown_metric_names() -> None:
    with pytest.raises(ConfigError, match=r"compare.*floors: unknown metric 'auc'"):
        parse_params({"compare": {"floors": {"auc": 0.9}}})
    with pytest.raises(ConfigError, match=r"compare\.max_dropp: unknown key"):
        parse_params({"compare": {"max_dropp": 0.1}})


def test_the_removed_max_drop_names_its_replacement() -> None:
    with pytest.raises(ConfigError, match=r"compare: .*max_drop was removed.*margins: \{roc_auc: 0\.01\}"):
        parse_params({"compare": {"max_drop": 0.1}})


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
    assert same.verdict == "no detectable change" and same.gate.passed
    assert all(m.delta == 0 and m.ci_low == 0 and m.ci_high == 0 for m in same.metrics)

    assert same.minimum_detectable is None  # the delta never varies: there is no change to size

    noise = rng.random(150)
    worse = compare_predictions("binary", _binary_predictions(good, y), _binary_predictions(noise, y), params, True, 0)
    assert worse.primary_metric == "roc_auc"
    assert worse.verdict == "regressed" and not worse.gate.passed
    assert worse.metric("log_loss").verdict == "regressed"  # lower-is-better direction honoured


def test_repeated_cv_runs_are_averaged_and_paired() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 200)
    runs = [_binary_predictions(np.clip(y * 0.5 + rng.random(200) * 0.5, 0.01, 0.99), y) for _ in range(3)]
    worse = [_binary_predictions(np.clip(y * 0.2 + rng.random(200) * 0.8, 0.01, 0.99), y) for _ in range(3)]
    cmp = compare_predictions("binary", runs, worse, CompareParams(bootstrap_resamples=200), True, 0, method="cv")
    auc = cmp.metric("roc_auc")
    expected = np.mean([compute_metrics("binary", r.y_true, r.y_pred, r.proba, r.classes)["roc_auc"] for r in runs])
    assert auc.baseline == pytest.approx(expected, abs=1e-6)
    assert cmp.verdict == "regressed" and cmp.method == "cv" and cmp.rows == 200


def test_minimum_detectable_change_from_the_bootstrap_spread() -> None:
    deltas = np.random.default_rng(0).normal(0.0, 0.01, 20_000)  # se 0.01
    # the interval must exclude zero: (1.96 + 0.84) * se = 0.028 when the margin is small
    assert minimum_detectable(deltas, 0.95, 0.001) == pytest.approx(0.028, rel=0.02)
    # the observed change must also exceed the margin: margin + 0.84 * se
    assert minimum_detectable(deltas, 0.95, 0.05) == pytest.approx(0.05 + 0.0084, rel=0.02)
    assert minimum_detectable(deltas, 0.99, 0.001) > minimum_detectable(deltas, 0.95, 0.001)


@pytest.mark.parametrize(("se", "margin"), [(0.01, 0.001), (0.01, 0.03), (0.002, 0.005)])
def test_a_true_change_of_the_stated_size_is_flagged_four_times_in_five(se: float, margin: float) -> None:
    """The formula against the gate's own rule (verdict_of) under the normal model of the delta: a candidate truly
    worse by the stated amount is blocked 80% of the time (4,000 simulated comparisons: +-2 points)."""
    rng = np.random.default_rng(5)
    mde = minimum_detectable(rng.normal(0.0, se, 50_000), 0.95, margin)
    observed = rng.normal(-mde, se, 4000)
    z = 1.959964
    blocked = [verdict_of(d, d - z * se, d + z * se, True, margin) == "regressed" for d in observed]
    assert np.mean(blocked) == pytest.approx(0.8, abs=0.02)
    smaller = rng.normal(-mde / 2, se, 4000)
    assert np.mean([verdict_of(d, d - z * se, d + z * se, True, margin) == "regressed" for d in smaller]) < 0.6


def _random_predictions(task: str, n: int, rng: np.random.Generator) -> Predictions:
    k = 2 if task == "binary" else 3
    y = rng.integers(0, k, n)
    logits = np.round(rng.normal(size=(n, k)), 1)  # rounded: ties in the scores
    logits[np.arange(n), y] += 1
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Predictions(np.arange(n), y, proba.argmax(axis=1), proba, np.arange(k))


def test_resampled_metrics_are_a_function_of_the_weights_values_not_of_the_array() -> None:
    """The ranked metrics (AUC, average precision) of a block are computed from its weights every time. A cache
    keyed on ``id(w)`` returned the last block's sums for a new block that CPython had put at the freed block's
    address (the unit weights of the point values, then the bootstrap block): every resample got the point AUC
    and the paired interval came out as wide as an unpaired one. Same object, new values, shows it for sure."""
    for task, names in (("binary", ("roc_auc", "pr_auc")), ("multiclass", ("roc_auc_ovr",))):
        p = _random_predictions(task, 120, np.random.default_rng(3))
        scorer = ResampledMetrics(task, p)  # type: ignore[arg-type]
        counts = next(resample_counts(120, 4, seed=0))
        w = np.ones_like(counts)
        point = scorer(w)
        w[:] = counts  # the same array object, now a bootstrap block
        again = scorer(w)
        fresh = ResampledMetrics(task, p)(counts)  # type: ignore[arg-type]
        for name in names:
            assert np.array_equal(again[name], fresh[name]), (task, name)
            assert not np.allclose(again[name], point[name][0]), (task, name)


def test_rank_sums_are_never_served_from_another_block() -> None:
    """ROC AUC caches its per-block sums for average precision on the same block. Matched by ``id()`` alone, a
    bootstrap block whose array object took the freed address of the point value's unit weights got their sums:
    the monitor's shadow interval changed from run to run. As in compare_predictions: the point value on unit
    weights (freed at once), then the first bootstrap block; every value must equal a fresh scorer's."""
    rng = np.random.default_rng(7)
    n = 200
    score = rng.random(n)
    y = (rng.random(n) < score).astype(int)
    p = Predictions(np.arange(n), y, (score >= 0.5).astype(int), np.column_stack([1 - score, score]), np.array([0, 1]))
    blocks = [next(resample_counts(n, 50, seed)) for seed in range(20)]
    for block in blocks:
        scorer = ResampledMetrics("binary", p)
        unit = np.ones((1, n), np.float32)
        point = scorer(unit)  # the point value on unit weights; then its array is freed
        del unit
        w = block.copy()  # the next array object: CPython hands it the freed one's address (or another)
        got, fresh = scorer(w), ResampledMetrics("binary", p)(w)
        assert np.array_equal(got["roc_auc"], fresh["roc_auc"])
        assert np.array_equal(got["pr_auc"], fresh["pr_auc"])
        assert len(point["roc_auc"]) == 1 and len(got["roc_auc"]) == len(block)
