"""Drift monitor statistics: false-alarm rate on held-out data of the training distribution, and
detection rate (power) on shifted inputs, over many seeds.

    make bench-drift     (or: uv run python benchmarks/bench_drift.py [--seeds 100])

1. The project's data (params.yaml): for each seed a fresh seeded train/test split; the reference
   profile is built from the train part and the held-out test part is the "served" window. Nothing
   drifted, so every drifted feature is a false alarm.
2. A synthetic mixed dataset (numeric, skewed with missing values, counts, categorical, boolean;
   the generator of tests/unit/test_drift_monitor.py): reference 5000 rows, independent windows of
   100 / 300 / 1000 rows, and the same windows shifted.

Rates are shown for the monitor's rule (PSI >= threshold AND p < p_value) and for each half alone.
Writes benchmarks/results/drift.md + .json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, write_results
from mlops_template.config import load_params
from mlops_template.data.extract import extract
from mlops_template.data.schema import coerce, load_spec
from mlops_template.data.split import split_frame
from mlops_template.monitoring.drift import compare
from mlops_template.monitoring.profile import build_profile
from tests.unit.test_drift_monitor import FEATURES, SPEC, population


def rates(results: list, params) -> dict[str, float]:
    feats = [f for r in results for f in r.features]
    n = max(len(feats), 1)
    return {
        "rule": sum(f.drifted for f in feats) / n,
        "psi_only": sum(f.psi >= params.psi_threshold for f in feats) / n,
        "test_only": sum(f.p_value < params.p_value for f in feats) / n,
        "window_trigger": sum(r.drift for r in results) / max(len(results), 1),
    }


def project_false_alarms(seeds: int) -> dict:
    params = load_params(ROOT / "params.yaml")
    spec = load_spec(ROOT / params.data.schema_path)
    d = params.data
    frame = coerce(extract(d.source, d.format, d.target, d.id_column), spec)
    features = spec.feature_columns(d.target, d.id_column)
    stratify = params.split.stratify and params.task != "regression"
    results = []
    for seed in range(seeds):
        train, test = split_frame(frame, d.target, params.split.test_size, seed, stratify)
        profile = build_profile(train, spec, features, params.monitor.bins)
        results.append(compare(profile, test, params.monitor))
    return {
        "source": d.source,
        "reference_rows": len(train),
        "window_rows": len(test),
        "features": len(features),
        **rates(results, params.monitor),
    }


def shifted(kind: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    frame = frame.copy()
    if kind.startswith("shift"):
        frame["x_normal"] += 2.0 * float(kind.split()[1])  # sd of x_normal is 2
        return frame, "x_normal"
    if kind.startswith("rescale"):
        frame["x_normal"] = 10.0 + (frame["x_normal"] - 10.0) * float(kind.split()[1])
        return frame, "x_normal"
    if kind == "category swap":
        frame["city"] = frame["city"].map({"paris": "lima", "lima": "paris", "rome": "oslo", "oslo": "rome"})
        return frame, "city"
    if kind.startswith("new category"):
        share = float(kind.split()[2].rstrip("%")) / 100
        frame.loc[frame.index[: int(len(frame) * share)], "city"] = "tokyo"
        return frame, "city"
    raise ValueError(kind)


SHIFTS = ["shift 0.25", "shift 0.5", "shift 1", "rescale 1.5", "category swap", "new category 5%", "new category 20%"]


def synthetic(seeds: int, params) -> dict:
    profile = build_profile(population(5000, seed=1), SPEC, FEATURES, params.bins)
    out: dict = {"false_alarms": {}, "detection": {}}
    for rows in (100, 300, 1000):
        windows = [population(rows, 10_000 + s) for s in range(seeds)]
        out["false_alarms"][rows] = rates([compare(profile, w, params) for w in windows], params)
        for kind in SHIFTS:
            hits = 0
            for w in windows:
                frame, feature = shifted(kind, w)
                result = compare(profile, frame, params)
                hits += next(f for f in result.features if f.feature == feature).drifted
            out["detection"].setdefault(kind, {})[rows] = hits / seeds
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml").monitor
    t0 = time.perf_counter()
    project = project_false_alarms(args.seeds)
    synth = synthetic(args.seeds, params)
    seconds = time.perf_counter() - t0
    pct = lambda x: f"{100 * x:.2f} %"  # noqa: E731
    md = [
        "# Drift monitor: false alarms and detection",
        "",
        f"Rule of `params.yaml` `monitor:`: a feature drifts when PSI >= {params.psi_threshold:g} AND the two-sample "
        f"test (binned KS / chi-square) has p < {params.p_value:g}, {params.bins} quantile bins; a window triggers "
        f"retraining when >= {params.drift_share:.0%} of its features drift. {args.seeds} seeds per cell.",
        "",
        "## False alarms on held-out data of the training distribution",
        "",
        "Share of (feature, window) pairs flagged as drifted although nothing drifted; last column: share of windows "
        "that would have triggered a retraining.",
        "",
        "| data | reference rows | window rows | rule (PSI AND test) | PSI alone | test alone | retraining triggered |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| project data (`{project['source']}`, {project['features']} features, seeded re-splits) | "
        f"{project['reference_rows']} | {project['window_rows']} | {pct(project['rule'])} | {pct(project['psi_only'])} "
        f"| {pct(project['test_only'])} | {pct(project['window_trigger'])} |",
    ]
    for rows, r in synth["false_alarms"].items():
        md.append(
            f"| synthetic mixed (5 features) | 5000 | {rows} | {pct(r['rule'])} | {pct(r['psi_only'])} | "
            f"{pct(r['test_only'])} | {pct(r['window_trigger'])} |"
        )
    md += [
        "",
        "## Detection rate of the shifted feature (synthetic data, reference 5000 rows)",
        "",
        "| change | window 100 | window 300 | window 1000 |",
        "|---|---:|---:|---:|",
    ]
    for kind, by_rows in synth["detection"].items():
        label = {
            "shift 0.25": "mean + 0.25 sd",
            "shift 0.5": "mean + 0.5 sd",
            "shift 1": "mean + 1 sd",
            "rescale 1.5": "sd x 1.5 (same mean)",
            "category swap": "categories swap frequencies (40/30/20/10 % -> 10/20/30/40 %)",
            "new category 5%": "new category value in 5 % of rows",
            "new category 20%": "new category value in 20 % of rows",
        }[kind]
        md.append(f"| {label} | " + " | ".join(pct(by_rows[n]) for n in (100, 300, 1000)) + " |")
    md += [
        "",
        "Reading: PSI alone raises the most false alarms on small windows (its noise floor grows with bins / "
        "rows); the test alone reacts to any significant difference however small; the monitor requires both. "
        "Small shifts (0.25 sd) are not flagged by design (PSI < threshold; the 100-row detections are mostly "
        "noise): lower `monitor.psi_threshold` to catch them, at the price of more false alarms.",
        "",
        f"Total {seconds:.1f} s (machine shared with other jobs; timings are not the point here).",
    ]
    write_results("drift", "\n".join(md), {"seeds": args.seeds, "project": project, "synthetic": synth})
    print("\n".join(md))


if __name__ == "__main__":
    main()
