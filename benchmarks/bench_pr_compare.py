"""PR comparison benchmark: `make pr-report` with the baseline obtained each of its three ways, and the
bootstrap's cost per resample count.

    uv run python benchmarks/bench_pr_compare.py

A fresh project copy: `main` trained and committed, one PR branch (a different estimator), then
`python -m mlops_template.cli pr-report --repro` three times: empty DVC cache and no remote (baseline
rebuilt in a git worktree), baseline in the DVC cache, baseline reused from .cache/pr-baseline.
Writes benchmarks/results/pr-compare.md + .json.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import timeit, write_results
from mlops_template.config import CompareParams
from mlops_template.evaluation.compare import compare_predictions
from mlops_template.evaluation.metrics import predict
from mlops_template.model_io import load_model
from tests.support import copy_repo, env_with_venv, git

PR_REPORT = ["python", "-m", "mlops_template.cli", "pr-report", "--repro", "--base", "main"]


def _timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env_with_venv(), check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_repo(Path(tmp) / "repo")
        t_main = _timed(["python", "-m", "mlops_template.cli", "repro"], repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "main trained")
        git(repo, "checkout", "-qb", "pr")
        params = repo / "params.yaml"
        params.write_text(params.read_text().replace("  type: linear", "  type: random_forest"))
        git(repo, "commit", "-qam", "PR: random forest")
        shutil.rmtree(repo / ".dvc" / "cache")
        t_rebuild = _timed(PR_REPORT, repo)  # includes the candidate's own repro
        shutil.rmtree(repo / ".cache" / "pr-baseline")
        t_cache = _timed(PR_REPORT, repo)
        t_reuse = _timed(PR_REPORT, repo)
        t_noop = _timed(["python", "-m", "mlops_template.cli", "repro"], repo)

        model = load_model(repo / "models/model.joblib")
        test = pd.read_parquet(repo / "data/split/test.parquet")
        preds = predict(model, test, "target", "id")
    boot = {
        n: timeit(
            lambda n=n: compare_predictions("binary", preds, preds, CompareParams(bootstrap_resamples=n), True, 0), 1
        )
        for n in (200, 1000)
    }
    rows = [
        ("train and commit `main` (full `dvc repro`)", t_main),
        ("`pr-report --repro`, baseline **rebuilt** in a git worktree (empty DVC cache, no remote)", t_rebuild),
        ("`pr-report --repro`, baseline from the **DVC cache**", t_cache),
        ("`pr-report --repro`, baseline **reused** from .cache/pr-baseline", t_reuse),
        ("of which the candidate's no-op `dvc repro`", t_noop),
        *(
            (f"bootstrap of all 8 binary metrics, {n} resamples, {len(test)} rows (in-process)", s)
            for n, s in boot.items()
        ),
    ]
    md = "\n".join(
        [
            "PR comparison (`make pr-report`), default data and params, PR branch = random forest vs main's "
            "linear model (seconds):",
            "",
            "| what | seconds |",
            "|---|---:|",
            *(f"| {what} | {s:.1f} |" for what, s in rows),
            "",
            "The rebuild costs about one full pipeline run; with the DVC cache restored (CI caches it keyed on",
            "dvc.lock) the comparison itself is the bootstrap plus interpreter start-up.",
        ]
    )
    write_results(
        "pr-compare",
        md,
        {
            "main_repro_s": t_main,
            "pr_report_rebuild_s": t_rebuild,
            "pr_report_dvc_cache_s": t_cache,
            "pr_report_reuse_s": t_reuse,
            "noop_repro_s": t_noop,
            "bootstrap_s": {str(k): v for k, v in boot.items()},
        },
    )


if __name__ == "__main__":
    main()
