"""Live-performance monitor statistics: false alarms of "degraded", power on a model made worse by a known
amount, and the error of the CBPE estimate under covariate shift, over many seeds.

    make bench-performance     (or: uv run python benchmarks/bench_performance.py [--seeds 200])

Every verdict is the monitor's own code path (ops/monitoring/performance.py ``performance_block``: the primary metric
with a bootstrap interval at compare.confidence vs the model's test metric minus the gate's margin), under two
rules side by side on the same windows and the same live intervals:

- "test metric exact": the interval against ``test - margin`` (the rule before the evaluate stage recorded the
  test metric's standard error);
- "test metric's standard error allowed for" (the rule now): the interval widened by ``z * se`` of the test metric
  in quadrature, ``se`` its bootstrap standard error on the test rows (experiment/resample.py
  ``standard_errors``, what the evaluate stage writes to metrics/test_uncertainty.json).

Every rate is given with its 95% Wilson interval over the seeds.

1. Synthetic binary data with a known logistic truth (8 standard-normal features): per seed a logistic
   regression is trained on 455 rows (the project's train size) and its test ROC AUC, the reference, is
   measured on 114 rows (the project's test size) or on 2000 rows; then labelled live windows of 100 / 300 /
   1000 rows:
   - from the training distribution: every "degraded" is a false alarm;
   - with a share of the live labels flipped (the model is wrong more often), or with concept drift (the true
     weights of 2 of the 8 features reversed): every "degraded" is a detection.
2. The project's data (params.yaml; seeded re-splits into train / test / live): false alarms of its own model.
3. CBPE: the estimate of the unlabelled window's metric from the logged probabilities vs the metric realised
   on the same window once the labels are known, with the live inputs shifted by 0 / 0.5 / 1 sd on 3 features
   (covariate shift: P(y | x) unchanged).

Writes benchmarks/results/performance.md + .json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, write_results
from mlops_template.core.config import Params, load_params
from mlops_template.core.metrics import Predictions, standard_errors
from mlops_template.ops.monitoring.performance import Setup, performance_block, setup_of
from mlops_template.ops.monitoring.performance import verdict as exact_verdict

NOW = datetime.now(UTC)
D = 8
WEIGHTS = np.array([1.2, -1.0, 0.8, 0.6, -0.5, 0.4, 0.3, -0.2])
WINDOWS = (100, 300, 1000)
FLIPS = (0.05, 0.1, 0.2)


def draw(n: int, rng: np.random.Generator, shift: float = 0.0, weights: np.ndarray = WEIGHTS) -> tuple:
    x = rng.normal(0.0, 1.0, (n, D))
    x[:, :3] += shift
    return x, (rng.random(n) < expit(x @ weights)).astype(int)


RULES = ("exact", "se")  # the test metric taken as exact / its standard error allowed for
RULE_NAMES = {"exact": "test metric exact", "se": "its standard error allowed for"}


def verdict(setup: Setup, score: np.ndarray, y: np.ndarray) -> dict[str, bool]:
    """Both rules' "degraded" on one fully labelled window: the monitor's performance block with the standard
    error (the rule now), and the exact-test-metric rule on the same live interval."""
    n = len(score)
    preds = pd.DataFrame({"id": np.arange(n), "label": (score >= 0.5).astype(int), "score": score, "ts": NOW})
    labels = pd.DataFrame({"id": np.arange(n), "y": y, "ts": pd.NaT})
    block = performance_block(preds, labels, setup, NOW)
    exact = block["ci_high"] is not None and exact_verdict(setup, block["ci_low"], block["ci_high"]) == "degraded"
    return {"exact": exact, "se": block["status"] == "degraded"}


def tested_setup(params: Params, classes: list, y: np.ndarray, score: np.ndarray) -> Setup:
    """The reference as the evaluate stage records it: the test metric and its bootstrap standard error."""
    proba = np.column_stack([1.0 - score, score])
    p = Predictions(np.arange(len(y)), y, (score >= 0.5).astype(int), proba, np.asarray(classes))
    errors = standard_errors(params.task, p, params.compare.bootstrap_resamples, params.seed)
    return setup_of(params, classes, {"roc_auc": roc_auc_score(y, score)}, errors)


def synthetic_seed(seed: int, params: Params) -> dict:
    """One seed: a model, its test AUC (and standard error) on 114 and 2000 rows, the verdicts of every scenario."""
    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*draw(455, rng))
    out: dict = {"test_114": {}, "test_2000": {}, "flip": {}, "concept": {}, "se": {}}
    setups = {}
    for size in (114, 2000):
        x, y = draw(size, rng)
        setups[size] = tested_setup(params, [0, 1], y, model.predict_proba(x)[:, 1])
        out["se"][size] = setups[size].test_se
    concept = WEIGHTS.copy()
    concept[:2] *= -1
    for n in WINDOWS:
        x, y = draw(n, rng)
        score = model.predict_proba(x)[:, 1]
        for size, setup in setups.items():
            out[f"test_{size}"][n] = verdict(setup, score, y)
        for share in FLIPS:
            flipped = np.where(rng.random(n) < share, 1 - y, y)
            out["flip"][(share, n)] = verdict(setups[114], score, flipped)
        xc, yc = draw(n, rng, weights=concept)
        out["concept"][n] = verdict(setups[114], model.predict_proba(xc)[:, 1], yc)
    return out


def true_drops() -> dict:
    """The metric drop each degradation scenario causes, on 200,000 rows (the "known amount")."""
    rng = np.random.default_rng(12345)
    model = LogisticRegression().fit(*draw(20_000, rng))
    x, y = draw(200_000, rng)
    score = model.predict_proba(x)[:, 1]
    base = roc_auc_score(y, score)
    drops = {f"flip {s:.0%}": base - roc_auc_score(np.where(rng.random(len(y)) < s, 1 - y, y), score) for s in FLIPS}
    concept = WEIGHTS.copy()
    concept[:2] *= -1
    xc, yc = draw(200_000, rng, weights=concept)
    drops["concept"] = base - roc_auc_score(yc, model.predict_proba(xc)[:, 1])
    return {"base_auc": base, **drops}


def project_false_alarms(seeds: int) -> dict:
    """The project's data and model: train / test / live re-splits; "degraded" on the live part is a false alarm."""
    from mlops_template.core.data.extract import extract
    from mlops_template.core.data.schema import coerce, load_spec
    from mlops_template.core.data.split import split_frame
    from mlops_template.core.metrics import metrics_of, predict
    from mlops_template.core.model import build_pipeline

    params = load_params(ROOT / "params.yaml")
    spec = load_spec(ROOT / params.data.schema_path)
    d = params.data
    frame = coerce(extract(d.source, d.format, d.target, d.id_column), spec)
    stratify = params.split.stratify and params.task != "regression"
    alarms, live_rows = dict.fromkeys(RULES, 0), 0
    for seed in range(seeds):
        train, rest = split_frame(frame, d.target, 0.4, seed, stratify)
        test, live = split_frame(rest, d.target, 0.5, seed, stratify)
        model = build_pipeline(params, spec).fit(train.drop(columns=[d.target, d.id_column]), train[d.target])
        on_test = predict(model, test, d.target, d.id_column, params.evaluate.threshold)
        errors = standard_errors(params.task, on_test, params.compare.bootstrap_resamples, params.seed)
        setup = setup_of(params, list(model.classes_), metrics_of(params.task, on_test), errors)
        p = predict(model, live, d.target, d.id_column, params.evaluate.threshold)
        for rule, alarm in verdict(setup, p.positive_score, p.y_true).items():
            alarms[rule] += alarm
        live_rows = len(live)
    return {
        "source": d.source,
        "alarms": alarms,
        "seeds": seeds,
        "train": len(train),
        "test": len(test),
        "live": live_rows,
    }


def cbpe_errors(seeds: int, params: Params) -> dict:
    """|CBPE estimate - realised metric| on unlabelled windows, by covariate shift and window size."""
    out: dict = {}
    for metric in ("roc_auc", "accuracy"):
        for shift in (0.0, 0.5, 1.0):
            for n in (300, 1000):
                errors = []
                for seed in range(seeds):
                    rng = np.random.default_rng(50_000 + seed)
                    model = LogisticRegression().fit(*draw(455, rng))
                    setup = dataclasses.replace(setup_of(params, [0, 1], {"roc_auc": 0.9}), metric=metric)
                    x, y = draw(n, rng, shift)
                    score = model.predict_proba(x)[:, 1]
                    preds = pd.DataFrame({"id": np.arange(n), "label": (score >= 0.5).astype(int), "score": score})
                    empty = pd.DataFrame({"id": [], "y": [], "ts": pd.to_datetime([], utc=True)})
                    block = performance_block(preds.assign(ts=NOW), empty, setup, NOW)
                    real = roc_auc_score(y, score) if metric == "roc_auc" else accuracy_score(y, score >= 0.5)
                    errors.append(block["estimate"]["value"] - real)
                e = np.array(errors)
                out[(metric, shift, n)] = {"mean": float(e.mean()), "mae": float(np.abs(e).mean())}
                out[(metric, shift, n)]["p90"] = float(np.quantile(np.abs(e), 0.9))
    return out


def count(results: list[dict], key: str, cell: object, rule: str) -> int:
    return sum(r[key][cell][rule] for r in results)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a rate k/n (honest at 0 and near 0, unlike k/n +- 2 se)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def pct(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{100 * k / n:.1f} % [{100 * low:.1f}, {100 * high:.1f}]"


def cells(results: list[dict], key: str, cell_of: object) -> str:
    """One table row's cells: per window size, both rules."""
    n = len(results)
    out = []
    for w in WINDOWS:
        cell = cell_of(w) if callable(cell_of) else w
        out += [pct(count(results, key, cell, rule), n) for rule in RULES]
    return " | ".join(out)


def header(first: str) -> list[str]:
    rules = [f"{w} rows: {RULE_NAMES[r]}" for w in WINDOWS for r in RULES]
    return [f"| {first} | " + " | ".join(rules) + " |", "|---|" + "---:|" * len(rules)]


def report(seeds: int, params: Params, results: list[dict], project: dict, drops: dict, cbpe: dict) -> str:
    c = params.compare
    se = {size: np.array([r["se"][size] for r in results]) for size in (114, 2000)}
    md = [
        "# Live performance: false alarms, power and the CBPE estimate",
        "",
        f'Rule (`ops/monitoring/performance.py`): "degraded" when the {c.confidence:.0%} bootstrap interval '
        f"({c.bootstrap_resamples} resamples) of the live ROC AUC lies entirely below the model's test ROC AUC minus "
        "the gate's margin (0.005): the upper end of a two-sided 90% interval, a one-sided test at 5%. Two rules, "
        "side by side on the same windows and live intervals: **test metric exact** (before) and **its standard "
        "error allowed for** (now: the interval's bound widened to `live + sqrt(half_width^2 + (z se)^2)`, `se` the "
        "test metric's bootstrap standard error that the evaluate stage writes to `metrics/test_uncertainty.json`, "
        f"`z` = {norm.ppf(0.5 + c.confidence / 2):.3f}). {seeds} seeds per "
        "cell; every rate with its 95% Wilson interval over the seeds. Synthetic data: a logistic truth on 8 "
        "features, a logistic regression trained on 455 rows.",
        "",
        f"The test ROC AUC's standard error: median {np.median(se[114]):.4f} on 114 test rows, "
        f"{np.median(se[2000]):.4f} on 2000 (over the seeds).",
        "",
        "## False alarms (live labels from the training distribution)",
        "",
        *header("reference: test metric on"),
    ]
    for size in (114, 2000):
        md.append(f"| {size} test rows (synthetic) | {cells(results, f'test_{size}', None)} |")
    a, k = project["alarms"], project["seeds"]
    md += [
        "",
        f"Project data (`{project['source']}`: {project['train']} train / {project['test']} test rows), "
        f"{project['live']} labelled live rows, {k} re-splits: test metric exact {pct(a['exact'], k)}, its standard "
        f"error allowed for {pct(a['se'], k)}.",
        "",
        "## Power (the model made worse by a known amount; reference: 114 test rows)",
        "",
        f"True drop of the ROC AUC (from {drops['base_auc']:.3f}, on 200,000 rows) in brackets.",
        "",
        *header("scenario"),
    ]
    for share in FLIPS:
        row = cells(results, "flip", lambda w, s=share: (s, w))
        md.append(f"| {share:.0%} of the labels flipped (-{drops[f'flip {share:.0%}']:.3f}) | {row} |")
    md.append(
        f"| concept drift: 2 of 8 true weights reversed (-{drops['concept']:.3f}) | {cells(results, 'concept', None)} |"
    )
    md += [
        "",
        "## CBPE estimate vs the realised metric (unlabelled windows, covariate shift)",
        "",
        "Estimate minus the metric realised on the same rows once labelled: mean (bias), mean absolute, 90th "
        "percentile of the absolute error. Inputs shifted by the given number of sd on 3 of 8 features.",
        "",
        "| metric | shift | window rows | bias | mean abs. error | p90 abs. error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (metric, shift, n), e in cbpe.items():
        md.append(f"| {metric} | {shift:g} sd | {n} | {e['mean']:+.4f} | {e['mae']:.4f} | {e['p90']:.4f} |")
    return "\n".join(md)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    t0 = time.perf_counter()
    results = [synthetic_seed(seed, params) for seed in range(args.seeds)]
    project = project_false_alarms(args.seeds)
    drops = true_drops()
    cbpe = cbpe_errors(args.seeds, params)
    seconds = time.perf_counter() - t0
    md = report(args.seeds, params, results, project, drops, cbpe) + f"\n\nBenchmark run time: {seconds:.0f} s."
    n = len(results)

    def rates(key: str, cell_of: object) -> dict:
        return {
            w: {r: count(results, key, cell_of(w) if callable(cell_of) else w, r) / n for r in RULES} for w in WINDOWS
        }

    data = {
        "seeds": args.seeds,
        "rules": RULE_NAMES,
        "false_alarms": {f"test_{s}": rates(f"test_{s}", None) for s in (114, 2000)},
        "test_se_median": {s: float(np.median([r["se"][s] for r in results])) for s in (114, 2000)},
        "project_false_alarms": project,
        "power": {f"flip {s:.0%}": rates("flip", lambda w, s=s: (s, w)) for s in FLIPS}
        | {"concept": rates("concept", None)},
        "true_drops": drops,
        "cbpe": {f"{m} shift {s:g} n {n}": e for (m, s, n), e in cbpe.items()},
    }
    write_results("performance", md, data)


if __name__ == "__main__":
    main()
