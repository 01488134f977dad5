"""Can the gate see a 1.5-point drop at 500 rows? Candidate tests side by side on the same simulated PRs (issue 19)

    uv run python benchmarks/bench_gate_power.py [--sims 100] [--workers 1]

The data-generating process and the two candidates are :mod:`bench_gate`'s (``worse``: feature x4 dropped,
a true ROC AUC drop of ~1.5 points; ``near``: ``model.linear.C`` 1.0 -> 0.5, a negligible change). For each
simulated pull request at 500 rows, every rule below decides on the *same* data and folds:

- **bootstrap, two-sided 95%** (the gate before this benchmark: repeated 5-fold CV x 3, paired bootstrap of
  the pooled out-of-fold predictions, block when the 95% interval lies below 0 and the drop exceeds the margin);
- **bootstrap, one-sided 95%**: the same bootstrap, block when the *one-sided* 95% upper bound lies below 0
  (the two-sided 90% interval: ``compare.confidence: 0.90``, the default since this benchmark);
- **bootstrap, two-sided 95%, CV x 10**: ten repetitions instead of three;
- **corrected resampled t-test** (Nadeau & Bengio 2003; Bouckaert & Frank 2004): the per-fold ROC AUC
  differences of the 5 x 3 folds, variance inflated by ``1/J + n_test/n_train``, two-sided and one-sided 95%.

Each rule also needs the drop to exceed the margin (0.005), as the gate does. Reported: the share of truly
worse PRs blocked (target >= 80%) and of negligible PRs passed (target >= 95%), with 95% Wilson intervals.
Results: benchmarks/results/gate_power.{md,json}; one line per simulated PR in .cache/bench_gate_power.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
from scipy import stats
from sklearn.model_selection import RepeatedStratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import read_jsonl, run_logged, write_results
from benchmarks.bench_gate import (
    DROPPED,
    FEATURES,
    POLICY,
    SPEC,
    SPEC_DROPPED,
    _auc,
    _eval_frame,
    _params,
    sample,
    wilson,
)
from mlops_template.core.model import build_pipeline
from mlops_template.experiment.compare import compare_predictions
from mlops_template.experiment.crossval import oof_predictions, sort_rows

ROWS = 500
FOLDS = POLICY.cross_validation.folds
RULES = {
    "boot2": "bootstrap, two-sided 95% (the gate before this benchmark)",
    "boot1": "bootstrap, one-sided 95% (shipped: `compare.confidence: 0.90`)",
    "boot2_x10": "bootstrap, two-sided 95%, CV x 10",
    "ttest2": "corrected resampled t-test, two-sided 95%",
    "ttest1": "corrected resampled t-test, one-sided 95%",
}


def _blocked_by_bootstrap(cmp_primary: object, margin: float) -> bool:
    return bool(cmp_primary.ci_high < 0 and -cmp_primary.delta > margin)  # type: ignore[attr-defined]


def corrected_t(diffs: np.ndarray, test_share: float, margin: float) -> dict[str, bool]:
    """Nadeau-Bengio corrected resampled t-test on per-fold differences (candidate - baseline)."""
    j = len(diffs)
    mean = float(np.mean(diffs))
    se = float(np.sqrt((1 / j + test_share / (1 - test_share)) * np.var(diffs, ddof=1)))
    t2, t1 = stats.t.ppf(0.975, j - 1), stats.t.ppf(0.95, j - 1)
    return {
        "ttest2": bool(mean + t2 * se < 0 and -mean > margin),
        "ttest1": bool(mean + t1 * se < 0 and -mean > margin),
    }


def fold_diffs(rows, base_p, cand_p, seed: int, repeats: int) -> np.ndarray:
    y = rows["target"].to_numpy()
    split = RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=repeats, random_state=seed)
    out = []
    for train_idx, test_idx in split.split(rows, y):
        aucs = []
        for p, spec in ((base_p, SPEC), (cand_p, SPEC_DROPPED if cand_p is base_p else SPEC)):
            features = spec.feature_columns("target", "id")
            model = build_pipeline(p, spec).fit(rows.iloc[train_idx][features], y[train_idx])
            aucs.append(_auc(y[test_idx], model.predict_proba(rows.iloc[test_idx][features])[:, 1]))
        out.append(aucs[1] - aucs[0])
    return np.asarray(out)


def simulate(kind: str, i: int) -> dict[str, object]:
    t0 = time.perf_counter()
    rng = np.random.default_rng([ROWS, 0 if kind == "worse" else 1, i])
    rows = sort_rows(sample(ROWS, rng), "id")
    base_p = _params(i)
    cand_p, cand_spec = (base_p, SPEC_DROPPED) if kind == "worse" else (_params(i, 0.5), SPEC)
    ev = _eval_frame()
    true_auc = []
    for p, spec in ((base_p, SPEC), (cand_p, cand_spec)):
        model = build_pipeline(p, spec).fit(rows[spec.feature_columns("target", "id")], rows["target"])
        true_auc.append(_auc(ev["target"].to_numpy(), model.predict_proba(ev[FEATURES])[:, 1]))
    decisions: dict[str, bool] = {}
    margin = 0.0
    for repeats, suffix in ((POLICY.cross_validation.repeats, ""), (10, "_x10")):
        base = oof_predictions(base_p, SPEC, rows, FOLDS, repeats, i)
        cand = oof_predictions(cand_p, cand_spec, rows, FOLDS, repeats, i)
        for confidence, name in ((0.95, "boot2"), (0.90, "boot1")):  # fixed levels, whatever params.yaml says
            if suffix and name == "boot1":
                continue
            policy = POLICY.model_copy(update={"confidence": confidence})
            cmp = compare_predictions("binary", base, cand, policy, True, i, method="cv", primary_only=True)
            primary = cmp.metric(cmp.primary_metric)
            margin = float(primary.margin)
            decisions[name + suffix] = _blocked_by_bootstrap(primary, margin)
    # fold-level differences for the corrected t-test (kind "worse" drops x4: cand_p is base_p)
    diffs = fold_diffs(rows, base_p, cand_p, i, POLICY.cross_validation.repeats)
    decisions.update(corrected_t(diffs, 1 / FOLDS, margin))
    return {
        "kind": kind,
        "i": i,
        "true_delta": true_auc[1] - true_auc[0],
        "blocked": decisions,
        "seconds": time.perf_counter() - t0,
    }


def _run(job: tuple[str, int]) -> dict[str, object]:
    return simulate(*job)


def table(results: list[dict]) -> tuple[str, list[dict]]:
    worse = [r for r in results if r["kind"] == "worse" and r["true_delta"] <= -0.01]
    near = [r for r in results if r["kind"] == "near" and abs(r["true_delta"]) <= 0.001]
    lines, cells = [], []
    for key, label in RULES.items():
        b = sum(1 for r in worse if r["blocked"][key])
        p = sum(1 for r in near if not r["blocked"][key])
        (bl, bh), (pl, ph) = wilson(b, len(worse)), wilson(p, len(near))
        rb, rp = b / max(len(worse), 1), p / max(len(near), 1)
        lines.append(
            f"| {label} | **{100 * rb:.1f}%** [{100 * bl:.1f}, {100 * bh:.1f}] {'✅' if rb >= 0.8 else '❌'} "
            f"| **{100 * rp:.1f}%** [{100 * pl:.1f}, {100 * ph:.1f}] {'✅' if rp >= 0.95 else '❌'} |"
        )
        cells.append({"rule": key, "label": label, "blocked_worse": rb, "passed_near": rp, "wilson_blocked": [bl, bh]})
    mean_drop = -100 * float(np.mean([r["true_delta"] for r in worse])) if worse else float("nan")
    md = "\n".join(
        [
            f"Gate power at {ROWS} rows, candidate tests side by side on the same simulated PRs "
            "(`benchmarks/bench_gate_power.py`; data and candidates as in `bench_gate.py`, margin 0.005 ROC AUC).",
            "",
            f"| rule | truly worse (mean true drop {mean_drop:.2f} points, {len(worse)} PRs): blocked, target ≥ 80% "
            f"| negligible (|true Δ| ≤ 0.1 point, {len(near)} PRs): passed, target ≥ 95% |",
            "|---|---|---|",
            *lines,
            "",
            f"Worse candidate: feature `{DROPPED}` dropped. The intervals are 95% Wilson intervals of the rates. "
            f"z for 80% power: {NormalDist().inv_cdf(0.8):.2f}.",
        ]
    )
    return md, cells


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=100, help="simulated PRs per candidate")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--log", type=Path, default=Path(".cache/bench_gate_power.jsonl"))
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    done = read_jsonl(args.log)
    seen = {(r["kind"], r["i"]) for r in done}
    jobs = [(kind, i) for i in range(args.sims) for kind in ("worse", "near") if (kind, i) not in seen]
    if not args.table_only:
        run_logged(_run, jobs, args.workers, args.log, done)
    md, cells = table(done)
    write_results("gate_power", md, {"cells": cells, "simulated": len(done), "rows": ROWS})


if __name__ == "__main__":
    main()
