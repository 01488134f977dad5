"""Error rates of the PR gate, by simulation from a known data-generating process.

    uv run python benchmarks/bench_gate.py [--sims-small 200] [--sims-large 100] [--workers 2]

Data: 10 standard-normal features, ``P(y=1) = sigmoid(x @ beta)`` (true AUC of the Bayes score ~0.83). Each
simulated pull request draws a fresh dataset of ``n`` rows, splits it as the pipeline does, trains the
baseline (logistic regression, ``model.linear.C = 1``) and a candidate, and runs the *pipeline's own*
comparison: :func:`~mlops_template.experiment.crossval.oof_predictions` (repeated CV on the same folds) when
``cv_applies`` (small data), else the paired test split, then
:func:`~mlops_template.experiment.compare.compare_predictions` with the policy of the repository's
``params.yaml`` (``compare:``). Candidates:

- **worse**: the baseline without feature ``x4`` (expected ROC AUC drop ~1.5 points);
- **near**: ``model.linear.C`` 1.0 -> 0.5 (the negligible change of issue #10).

The *true* ROC AUC of each trained model is measured on 100,000 fresh rows. Cells are defined by that truth:
"truly worse by >= 1 point" (true delta <= -0.01) and "within 0.1 point" (|true delta| <= 0.001); simulated
PRs outside their cell are counted and left out. Rates carry a 95% Wilson interval.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, read_jsonl, run_logged, write_results
from mlops_template.core.config import Params, load_params, parse_params
from mlops_template.core.data.schema import SchemaSpec, draft_spec
from mlops_template.core.data.split import split_frame
from mlops_template.core.metrics import predict
from mlops_template.core.model import build_pipeline
from mlops_template.experiment.compare import compare_predictions, describe
from mlops_template.experiment.crossval import cv_applies, oof_predictions, sort_rows

BETA = np.array([1.0, 0.8, 0.6, 0.5, 0.45, 0.3, 0.25, 0.2, 0.0, 0.0])
FEATURES = [f"x{i}" for i in range(len(BETA))]
DROPPED = "x4"
EVAL_ROWS = 100_000
# The template's shipped gate policy without its absolute floors (demo-data values, which `make init` empties):
# this benchmark measures the comparison with main's model, not whether a simulated model clears the demo's floors.
POLICY = load_params(ROOT / "params.yaml").compare.model_copy(update={"floors": {}})


def sample(n: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(size=(n, len(BETA)))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(x @ BETA)))).astype("int64")
    frame = pd.DataFrame(x, columns=FEATURES)
    frame.insert(0, "id", np.arange(n, dtype="int64"))
    frame["target"] = y
    return frame


SPEC = draft_spec(sample(2000, np.random.default_rng(0)), "target", "id").spec
SPEC_DROPPED = SchemaSpec.model_validate(
    {**SPEC.model_dump(), "columns": {k: v for k, v in SPEC.model_dump()["columns"].items() if k != DROPPED}}
)
_EVAL: pd.DataFrame | None = None


def _eval_frame() -> pd.DataFrame:
    global _EVAL
    if _EVAL is None:
        _EVAL = sample(EVAL_ROWS, np.random.default_rng(999))
    return _EVAL


def _params(seed: int, c: float = 1.0) -> Params:
    return parse_params({"seed": seed, "model": {"type": "linear", "linear": {"C": c}}, "compare": {}})


def simulate(n: int, kind: str, i: int) -> dict[str, object]:
    """One simulated pull request: returns the true delta and what the gate decided."""
    t0 = time.perf_counter()
    rng = np.random.default_rng([n, 0 if kind == "worse" else 1, i])
    frame = sample(n, rng)
    base_p = _params(i)
    cand_p, cand_spec = (base_p, SPEC_DROPPED) if kind == "worse" else (_params(i, 0.5), SPEC)
    train, test = split_frame(frame, "target", base_p.split.test_size, i, True)
    models = []
    for p, spec in ((base_p, SPEC), (cand_p, cand_spec)):
        model = build_pipeline(p, spec)
        model.fit(train[spec.feature_columns("target", "id")], train["target"])
        models.append(model)
    ev = _eval_frame()
    true_auc = []
    for model in models:
        score = model.predict_proba(ev[FEATURES])[:, 1]
        true_auc.append(_auc(ev["target"].to_numpy(), score))
    cv = POLICY.cross_validation
    if cv_applies(n, cv):
        rows = sort_rows(pd.concat([train, test], ignore_index=True), "id")
        base = oof_predictions(base_p, SPEC, rows, cv.folds, cv.repeats, i)
        cand = oof_predictions(cand_p, cand_spec, rows, cv.folds, cv.repeats, i)
        method = "cv"
    else:
        base = predict(models[0], test, "target", "id")
        cand = predict(models[1], test, "target", "id")
        method = "test split"
    cmp = compare_predictions("binary", base, cand, POLICY, True, i, method=method, primary_only=True)
    primary = cmp.metric(cmp.primary_metric)
    return {
        "n": n,
        "kind": kind,
        "i": i,
        "true_delta": true_auc[1] - true_auc[0],
        "passed": bool(cmp.gate.passed),
        "verdict": cmp.verdict,
        "estimate": float(primary.delta),
        "ci": [float(primary.ci_low), float(primary.ci_high)],
        "margin": float(primary.margin),
        "minimum_detectable": cmp.minimum_detectable,  # what the report states for this PR
        "line": describe(primary, cmp.confidence),
        "method": method,
        "seconds": time.perf_counter() - t0,
    }


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    n_pos = int(y.sum())
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(y) - n_pos)))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _run(args: tuple[int, str, int]) -> dict[str, object]:
    return simulate(*args)


def _stamp_load(result: dict[str, object]) -> None:
    result["load1"] = round(os.getloadavg()[0], 2)  # the machine's load when this PR finished


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims-small", type=int, default=200, help="simulated PRs per candidate at 500 rows")
    ap.add_argument("--sims-large", type=int, default=100, help="simulated PRs per candidate at 100,000 rows")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--log", type=Path, default=Path(".cache/bench_gate.jsonl"), help="one line per simulated PR")
    ap.add_argument("--table-only", action="store_true", help="write the table from the log, simulate nothing")
    args = ap.parse_args()
    done = read_jsonl(args.log)
    seen = {(r["n"], r["kind"], r["i"]) for r in done}
    jobs = []
    for i in range(max(args.sims_small, args.sims_large)):  # interleaved: a partial run is balanced
        for n, sims in ((500, args.sims_small), (100_000, args.sims_large)):
            jobs += [(n, kind, i) for kind in ("worse", "near") if i < sims and (n, kind, i) not in seen]
    if not args.table_only:
        run_logged(_run, jobs, args.workers, args.log, done, stamp=_stamp_load)
    results = done
    total = sum(float(r["seconds"]) for r in results)  # type: ignore[arg-type]
    loads = [float(r["load1"]) for r in results if "load1" in r]  # type: ignore[arg-type]
    load_text = (
        f"load average {min(loads):.1f}-{max(loads):.1f} over the {len(loads)} PRs that recorded it"
        if loads
        else "load not recorded"
    )

    rows_md = []
    cells = []
    for n in (500, 100_000):
        for kind, cell, want_pass, target in (
            ("worse", "truly worse by >= 1 point: blocked", False, 0.80),
            ("near", "within 0.1 point: passed", True, 0.95),
        ):
            sims = [r for r in results if r["n"] == n and r["kind"] == kind]
            if kind == "worse":
                inside = [r for r in sims if float(r["true_delta"]) <= -0.01]  # type: ignore[arg-type]
            else:
                inside = [r for r in sims if abs(float(r["true_delta"])) <= 0.001]  # type: ignore[arg-type]
            hits = sum(1 for r in inside if bool(r["passed"]) == want_pass)
            rate = hits / len(inside) if inside else math.nan
            low, high = wilson(hits, len(inside))
            mean_true = float(np.mean([float(r["true_delta"]) for r in inside])) if inside else math.nan  # type: ignore[arg-type]
            method = str(sims[0]["method"]) if sims else ""
            ok = "✅" if rate >= target else f"❌ (misses by {100 * (target - rate):.1f} points)"
            rows_md.append(
                f"| {n:,} | {method} | {cell} | {len(inside)} of {len(sims)} | {100 * mean_true:+.2f} "
                f"| **{100 * rate:.1f}%** [{100 * low:.1f}, {100 * high:.1f}] | ≥ {100 * target:.0f}% {ok} |"
            )
            cells.append(
                {
                    "rows": n,
                    "candidate": kind,
                    "cell": cell,
                    "method": method,
                    "simulated": len(sims),
                    "in_cell": len(inside),
                    "hits": hits,
                    "rate": rate,
                    "wilson95": [low, high],
                    "mean_true_delta": mean_true,
                    "target": target,
                    "median_seconds_per_sim": float(np.median([float(r["seconds"]) for r in sims])),  # type: ignore[arg-type]
                }
            )
    example = next(r for r in results if r["n"] == 100_000 and r["kind"] == "near")
    md = "\n".join(
        [
            "Gate error rates by simulation (`benchmarks/bench_gate.py`): the pipeline's own comparison and gate "
            "code, the repository's `compare:` policy without its demo-data floors (ROC AUC margin 0.005, 95% CI, "
            "1000 resamples; repeated "
            "5-fold CV x 3 up to 20,000 rows, else the paired 20% test split). True AUCs on 100,000 fresh rows.",
            "",
            "| rows | compared on | cell (by true Δ ROC AUC) | PRs in cell | mean true Δ (points) "
            "| rate [95% Wilson] | target |",
            "|---:|---|---|---:|---:|---|---|",
            *rows_md,
            "",
            f"Worse candidate: feature `{DROPPED}` dropped; near candidate: `model.linear.C` 1.0 → 0.5. "
            "Simulated PRs outside their cell (true Δ not in range) are left out. "
            f"Example gate line, C 1.0 → 0.5 at 100,000 rows: `{example['line']}` → "
            f"{'passed' if example['passed'] else 'blocked'} ({example['verdict']}).",
            "",
            f"{len(results)} of {2 * (args.sims_small + args.sims_large)} planned simulated PRs "
            f"({total / 60:.0f} min of simulation in all, the sum of per-PR seconds, in one or two worker processes "
            f"on 2 cores shared with other jobs: {load_text}; the first 90 ran at load 10-20). A run "
            "stopped early resumes from `.cache/bench_gate.jsonl`. The Wilson intervals carry the binomial "
            "uncertainty of the small cells.",
        ]
    )
    write_results(
        "gate",
        md,
        {
            "cells": cells,
            "simulation_seconds": total,
            "load1_range": [min(loads), max(loads)] if loads else None,
            "example_near_100k": example,
        },
    )


if __name__ == "__main__":
    main()
