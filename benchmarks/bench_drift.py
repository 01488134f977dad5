"""Drift monitor statistics side by side with Evidently 0.7's default data-drift tests: false alarms on data of
the training distribution and detection rate (power) on shifted inputs, same windows, many seeds.

    make bench-drift     (or: uv run python benchmarks/bench_drift.py [--seeds 100])

1. The project's data (params.yaml): for each seed a fresh seeded train/test split; the reference is the train
   part (the monitor's profile is built from it) and the held-out test part is the "served" window. Nothing
   drifted, so every drifted feature is a false alarm.
2. A synthetic mixed dataset (numeric, skewed with missing values, counts, categorical, boolean; the generator
   of tests/unit/test_drift_monitor.py): reference 5000 rows, independent windows of 100 / 300 / 1000 rows, and
   the same windows shifted.

The monitor (src/mlops_template/ops/monitoring/drift.py) judges each window in-process. Evidently judges the very
same windows against the same reference rows in its own environment (benchmarks/evidently/: Evidently 0.7
needs pandas < 3), with the test and threshold its ``DataDriftPreset`` picks by default. Window level: the
monitor triggers at ``monitor.drift_share`` of the features, Evidently's dataset drift at its default 0.5.
Writes benchmarks/results/drift.md + .json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, write_results
from mlops_template.core.config import load_params
from mlops_template.core.data.extract import extract
from mlops_template.core.data.schema import coerce, load_spec
from mlops_template.core.data.split import split_frame
from mlops_template.core.profile import build_profile
from mlops_template.ops.monitoring.drift import WASSERSTEIN_THRESHOLD, compare
from tests.unit.test_drift_monitor import FEATURES, SPEC, population

WORK = ROOT / "benchmarks" / ".work" / "drift"
EVIDENTLY_PROJECT = ROOT / "benchmarks" / "evidently"
EVIDENTLY_DRIFT_SHARE = 0.5  # DataDriftPreset's default share of drifted columns for dataset drift
SIZES = (100, 300, 1000)
SHIFTS = ["shift 0.25", "shift 0.5", "shift 1", "rescale 1.5", "category swap", "new category 5%", "new category 20%"]
LABELS = {
    "shift 0.25": "mean + 0.25 sd",
    "shift 0.5": "mean + 0.5 sd",
    "shift 1": "mean + 1 sd",
    "rescale 1.5": "sd x 1.5 (same mean)",
    "category swap": "categories swap frequencies (40/30/20/10 % -> 10/20/30/40 %)",
    "new category 5%": "new category value in 5 % of rows",
    "new category 20%": "new category value in 20 % of rows",
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


def cases(seeds: int, params) -> tuple[dict, list[dict]]:
    """References (case -> (rows, profile, features)) and windows (case, scenario, rows, frame, target feature)."""
    p = load_params(ROOT / "params.yaml")
    spec = load_spec(ROOT / p.data.schema_path)
    d = p.data
    frame = coerce(extract(d.source, d.format, d.target, d.id_column), spec)
    features = spec.feature_columns(d.target, d.id_column)
    stratify = p.split.stratify and p.task != "regression"
    refs, windows = {}, []
    for seed in range(seeds):
        train, test = split_frame(frame, d.target, p.split.test_size, seed, stratify)
        refs[f"project-{seed}"] = (train[features], build_profile(train, spec, features, params.bins), features)
        windows.append({"case": f"project-{seed}", "scenario": "none", "rows": len(test), "frame": test[features]})
    reference = population(5000, seed=1)
    refs["synthetic"] = (reference[FEATURES], build_profile(reference, SPEC, FEATURES, params.bins), FEATURES)
    for rows in SIZES:
        for s in range(seeds):
            window = population(rows, 10_000 + s)[FEATURES]
            windows.append({"case": "synthetic", "scenario": "none", "rows": rows, "frame": window})
            for kind in SHIFTS:
                moved, feature = shifted(kind, window)
                windows.append({"case": "synthetic", "scenario": kind, "rows": rows, "frame": moved, "target": feature})
    return refs, windows


def evidently_verdicts(refs: dict, windows: list[dict]) -> tuple[str, list[dict[str, list]]]:
    """Evidently's per-column verdicts for every window, from benchmarks/evidently/drift_worker.py."""
    WORK.mkdir(parents=True, exist_ok=True)
    columns = {
        case: {
            "numerical": [f for f in feats if profile["columns"][f]["kind"] == "numeric"],
            "categorical": [f for f in feats if profile["columns"][f]["kind"] != "numeric"],
        }
        for case, (_, profile, feats) in refs.items()
    }
    (WORK / "columns.json").write_text(json.dumps(columns))
    pd.concat([frame.assign(__case=case) for case, (frame, _, _) in refs.items()]).to_parquet(
        WORK / "reference.parquet"
    )
    pd.concat([w["frame"].assign(__case=w["case"], __window=i) for i, w in enumerate(windows)]).to_parquet(
        WORK / "windows.parquet"
    )
    uv = os.environ.get("UV", "uv")
    cmd = [uv, "run", "--project", str(EVIDENTLY_PROJECT), "--frozen", "--quiet", "python",
           str(EVIDENTLY_PROJECT / "drift_worker.py"), str(WORK)]  # fmt: skip
    out = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    return out["evidently"], [out["results"][str(i)] for i in range(len(windows))]


COUNTS = ("n", "features", "ours_f", "ev_f", "old_f", "ours_w", "ev_w", "old_w", "ours_hit", "ev_hit", "old_hit")


def summarise(windows: list[dict], ours: list, theirs: list[dict], params) -> dict:
    """False alarms (per feature and per window) where nothing drifted; detection of the shifted feature."""
    cells: dict = {}
    for w, mine, other in zip(windows, ours, theirs, strict=True):
        key = ("project" if w["case"].startswith("project") else "synthetic", w["scenario"], w["rows"])
        cell = cells.setdefault(key, dict.fromkeys(COUNTS, 0))
        flagged = {f.feature for f in mine.features if f.drifted}
        # the rule before the Wasserstein distance joined it: PSI >= threshold AND p < p_value
        before = {f.feature for f in mine.features if f.psi >= params.psi_threshold and f.p_value < params.p_value}
        ev_flagged = {c for c, (drifted, _, _) in other.items() if drifted}
        cell["n"] += 1
        cell["features"] += len(mine.features)
        cell["ours_f"] += len(flagged)
        cell["ev_f"] += len(ev_flagged)
        cell["ours_w"] += mine.drift
        cell["ev_w"] += len(ev_flagged) / max(len(other), 1) >= EVIDENTLY_DRIFT_SHARE
        cell["old_f"] += len(before)
        cell["old_w"] += len(before) / max(len(mine.features), 1) >= params.drift_share
        if "target" in w:
            cell["ours_hit"] += w["target"] in flagged
            cell["ev_hit"] += w["target"] in ev_flagged
            cell["old_hit"] += w["target"] in before
    return cells


def rate(hits: int, n: int) -> str:
    return f"{100 * hits / max(n, 1):.1f} %"


def report(cells: dict, params, seeds: int, version: str, methods: dict[str, str], seconds: float) -> list[str]:
    md = [
        "# Drift monitor vs Evidently: false alarms and detection",
        "",
        f"Monitor (`params.yaml` `monitor:`): a feature drifts when its shift is large enough (PSI >= "
        f"{params.psi_threshold:g} over {params.bins} quantile bins, or the normed Wasserstein distance >= "
        f"{WASSERSTEIN_THRESHOLD:g}) AND significant (binned KS or chi-square p < {params.p_value:g}); a window "
        f"triggers retraining at >= {params.drift_share:.0%} of its features. Evidently {version}: the default test "
        f"of `DataDriftPreset` per column ({'; '.join(f'{k}: {v}' for k, v in sorted(methods.items()))}), dataset "
        f"drift at >= {EVIDENTLY_DRIFT_SHARE:.0%} of the columns. The same windows and reference rows for both; "
        f"{seeds} seeds per cell.",
        "",
        "## False alarms on data of the training distribution",
        "",
        "Share of (feature, window) pairs flagged although nothing drifted, and share of windows that trigger "
        "retraining (monitor) or report dataset drift (Evidently). *Before*: the monitor's rule without the "
        "Wasserstein distance (PSI AND test).",
        "",
        "| data | window rows | monitor: features flagged | before | Evidently: features flagged | "
        "monitor: retraining triggered | before | Evidently: dataset drift |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for (data, scenario, rows), c in sorted(cells.items()):
        if scenario == "none":
            md.append(
                f"| {data} | {rows} | {rate(c['ours_f'], c['features'])} | {rate(c['old_f'], c['features'])} | "
                f"{rate(c['ev_f'], c['features'])} | {rate(c['ours_w'], c['n'])} | {rate(c['old_w'], c['n'])} | "
                f"{rate(c['ev_w'], c['n'])} |"
            )
    md += [
        "",
        "## Detection rate of the shifted feature (synthetic data, reference 5000 rows)",
        "",
        "| change | " + " | ".join(f"monitor {n} | before | Evidently {n}" for n in SIZES) + " |",
        "|---|" + "---:|" * (3 * len(SIZES)),
    ]
    for kind in SHIFTS:
        row = [
            " | ".join(rate(cells[("synthetic", kind, n)][k], seeds) for k in ("ours_hit", "old_hit", "ev_hit"))
            for n in SIZES
        ]
        md.append(f"| {LABELS[kind]} | " + " | ".join(row) + " |")
    md += ["", f"Total {seconds:.0f} s (machine shared with other jobs; timings are not the point here)."]
    return md


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml").monitor
    t0 = time.perf_counter()
    refs, windows = cases(args.seeds, params)
    ours = [compare(refs[w["case"]][1], w["frame"], params) for w in windows]
    version, theirs = evidently_verdicts(refs, windows)
    methods = {
        ("project" if w["case"].startswith("project") else "synthetic") + f" {c}": v[2]
        for w, other in zip(windows, theirs, strict=True)
        for c, v in other.items()
        if c in ("x_normal", "city", "member") or (w["case"] == "project-0" and c == next(iter(other)))
    }
    cells = summarise(windows, ours, theirs, params)
    md = report(cells, params, args.seeds, version, methods, time.perf_counter() - t0)
    data = {"seeds": args.seeds, "evidently": version, "cells": {" / ".join(map(str, k)): v for k, v in cells.items()}}
    write_results("drift", "\n".join(md), data)
    print("\n".join(md))


if __name__ == "__main__":
    main()
