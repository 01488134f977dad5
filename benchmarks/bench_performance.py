"""Live-performance monitor statistics: false alarms of "degraded", power on a model made worse by a known
amount, and the error of the CBPE estimate under covariate shift, over many seeds.

    make bench-performance     (or: uv run python benchmarks/bench_performance.py [--seeds 200])

Every verdict is the monitor's own code path (ops/monitoring/performance.py ``performance_block``: the primary metric
with a bootstrap interval at compare.confidence vs the model's test metric minus the gate's margin).

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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, write_results
from mlops_template.core.config import Params, load_params
from mlops_template.ops.monitoring.performance import Setup, performance_block, setup_of

NOW = datetime.now(UTC)
D = 8
WEIGHTS = np.array([1.2, -1.0, 0.8, 0.6, -0.5, 0.4, 0.3, -0.2])
WINDOWS = (100, 300, 1000)
FLIPS = (0.05, 0.1, 0.2)


def draw(n: int, rng: np.random.Generator, shift: float = 0.0, weights: np.ndarray = WEIGHTS) -> tuple:
    x = rng.normal(0.0, 1.0, (n, D))
    x[:, :3] += shift
    return x, (rng.random(n) < expit(x @ weights)).astype(int)


def verdict(setup: Setup, score: np.ndarray, y: np.ndarray) -> dict:
    """The monitor's performance block for a fully labelled window."""
    n = len(score)
    preds = pd.DataFrame({"id": np.arange(n), "label": (score >= 0.5).astype(int), "score": score, "ts": NOW})
    labels = pd.DataFrame({"id": np.arange(n), "y": y, "ts": pd.NaT})
    return performance_block(preds, labels, setup, NOW)


def synthetic_seed(seed: int, params: Params) -> dict:
    """One seed: a model, its test AUC on 114 and 2000 rows, and the verdicts of every live scenario."""
    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*draw(455, rng))
    out: dict = {"test_114": {}, "test_2000": {}, "flip": {}, "concept": {}}
    setups = {}
    for size in (114, 2000):
        x, y = draw(size, rng)
        setups[size] = setup_of(params, [0, 1], {"roc_auc": roc_auc_score(y, model.predict_proba(x)[:, 1])})
    concept = WEIGHTS.copy()
    concept[:2] *= -1
    for n in WINDOWS:
        x, y = draw(n, rng)
        score = model.predict_proba(x)[:, 1]
        for size, setup in setups.items():
            out[f"test_{size}"][n] = verdict(setup, score, y)["status"] == "degraded"
        for share in FLIPS:
            flipped = np.where(rng.random(n) < share, 1 - y, y)
            out["flip"][(share, n)] = verdict(setups[114], score, flipped)["status"] == "degraded"
        xc, yc = draw(n, rng, weights=concept)
        out["concept"][n] = verdict(setups[114], model.predict_proba(xc)[:, 1], yc)["status"] == "degraded"
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
    alarms, live_rows = 0, 0
    for seed in range(seeds):
        train, rest = split_frame(frame, d.target, 0.4, seed, stratify)
        test, live = split_frame(rest, d.target, 0.5, seed, stratify)
        model = build_pipeline(params, spec).fit(train.drop(columns=[d.target, d.id_column]), train[d.target])
        tested = metrics_of(params.task, predict(model, test, d.target, d.id_column, params.evaluate.threshold))
        setup = setup_of(params, list(model.classes_), tested)
        p = predict(model, live, d.target, d.id_column, params.evaluate.threshold)
        alarms += verdict(setup, p.positive_score, p.y_true)["status"] == "degraded"
        live_rows = len(live)
    return {"source": d.source, "rate": alarms / seeds, "train": len(train), "test": len(test), "live": live_rows}


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


def rate(results: list[dict], key: str, cell: object) -> float:
    return sum(r[key][cell] for r in results) / len(results)


def report(seeds: int, params: Params, results: list[dict], project: dict, drops: dict, cbpe: dict) -> str:
    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    c = params.compare
    md = [
        "# Live performance: false alarms, power and the CBPE estimate",
        "",
        f'Rule (`ops/monitoring/performance.py`): "degraded" when the {c.confidence:.0%} bootstrap interval '
        f"({c.bootstrap_resamples} resamples) of the live ROC AUC lies entirely below the model's test ROC AUC minus "
        f"the gate's margin (0.005). {seeds} seeds per cell; synthetic data: a logistic truth on 8 features, a "
        "logistic regression trained on 455 rows.",
        "",
        "## False alarms (live labels from the training distribution)",
        "",
        "| reference: test metric on | " + " | ".join(f"{n} labelled rows" for n in WINDOWS) + " |",
        "|---|" + "---:|" * len(WINDOWS),
    ]
    for size in (114, 2000):
        md.append(
            f"| {size} test rows (synthetic) | "
            + " | ".join(pct(rate(results, f"test_{size}", n)) for n in WINDOWS)
            + " |"
        )
    md += [
        f"| project data (`{project['source']}`: {project['train']} train / {project['test']} test rows), "
        f"{project['live']} labelled live rows | {pct(project['rate'])} | | |",
        "",
        "## Power (the model made worse by a known amount; reference: 114 test rows)",
        "",
        f"True drop of the ROC AUC (from {drops['base_auc']:.3f}, on 200,000 rows) in brackets.",
        "",
        "| scenario | " + " | ".join(f"{n} labelled rows" for n in WINDOWS) + " |",
        "|---|" + "---:|" * len(WINDOWS),
    ]
    for share in FLIPS:
        cells = " | ".join(pct(rate(results, "flip", (share, n))) for n in WINDOWS)
        md.append(f"| {share:.0%} of the labels flipped (-{drops[f'flip {share:.0%}']:.3f}) | {cells} |")
    cells = " | ".join(pct(rate(results, "concept", n)) for n in WINDOWS)
    md.append(f"| concept drift: 2 of 8 true weights reversed (-{drops['concept']:.3f}) | {cells} |")
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
    data = {
        "seeds": args.seeds,
        "false_alarms": {f"test_{s}": {n: rate(results, f"test_{s}", n) for n in WINDOWS} for s in (114, 2000)},
        "project_false_alarms": project,
        "power": {f"flip {s:.0%}": {n: rate(results, "flip", (s, n)) for n in WINDOWS} for s in FLIPS}
        | {"concept": {n: rate(results, "concept", n) for n in WINDOWS}},
        "true_drops": drops,
        "cbpe": {f"{m} shift {s:g} n {n}": e for (m, s, n), e in cbpe.items()},
    }
    write_results("performance", md, data)


if __name__ == "__main__":
    main()
