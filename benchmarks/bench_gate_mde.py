"""Does the report's "minimum detectable change" predict the gate's real power? (issue 19)

    uv run python benchmarks/bench_gate_mde.py [--sims 100] [--rows 500] [--workers 1]

Re-uses :func:`bench_gate.simulate` (fresh data per simulated PR, the pipeline's own repeated cross-validation,
comparison and gate; candidate "worse" = the baseline without feature x4, a true ROC AUC drop of ~1.5 points).
Each PR records what its report states: the minimum detectable drop (80% power) and the interval of Δ. From
that statement alone, under the normal model the report uses, the probability that this PR is blocked is
``Phi((|true Δ| - max(z * se, margin)) / se)`` with ``se`` = the interval's half-width / z. The benchmark
compares the mean of that predicted power with the share of PRs the gate really blocked, and the stated
minimum detectable drop with the true drop. Results: benchmarks/results/gate_mde.{md,json}.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import read_jsonl, run_logged, write_results
from benchmarks.bench_gate import POLICY, simulate, wilson

Z = NormalDist().inv_cdf(1 - (1 - POLICY.confidence) / 2)


def predicted_block(r: dict[str, object]) -> float:
    low, high = r["ci"]  # type: ignore[misc]
    se = (float(high) - float(low)) / (2 * Z)
    drop = -float(r["true_delta"])  # type: ignore[arg-type]
    return NormalDist().cdf((drop - max(Z * se, float(r["margin"]))) / se) if se > 0 else float(drop > 0)  # type: ignore[arg-type]


def _run(args: tuple[int, str, int]) -> dict[str, object]:
    return simulate(*args)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--log", type=Path, default=Path(".cache/bench_gate_mde.jsonl"))
    args = ap.parse_args()
    done = read_jsonl(args.log)
    seen = {r["i"] for r in done if r["n"] == args.rows}
    jobs = [(args.rows, "worse", i) for i in range(args.sims) if i not in seen]
    run_logged(_run, jobs, args.workers, args.log, done)
    sims = [r for r in done if r["n"] == args.rows and r["kind"] == "worse" and r.get("minimum_detectable")]
    blocked = sum(1 for r in sims if not r["passed"])
    observed = blocked / len(sims)
    low, high = wilson(blocked, len(sims))
    predicted = float(np.mean([predicted_block(r) for r in sims]))
    mde = float(np.median([float(r["minimum_detectable"]) for r in sims]))  # type: ignore[arg-type]
    true_drop = -float(np.mean([float(r["true_delta"]) for r in sims]))  # type: ignore[arg-type]
    agrees = low <= predicted <= high
    md = "\n".join(
        [
            f"Stated minimum detectable change vs simulated power (`benchmarks/bench_gate_mde.py`), {len(sims)} "
            f"simulated PRs at {args.rows:,} rows whose candidate drops feature x4 (the gate's policy as in "
            "`bench_gate.py`).",
            "",
            "| rows | mean true drop (points) | median stated minimum detectable drop (points) "
            "| blocked (simulated) [95% Wilson] | blocked (predicted from each report's statement) | agree |",
            "|---:|---:|---:|---|---:|---|",
            f"| {args.rows:,} | {100 * true_drop:.2f} | {100 * mde:.2f} | {100 * observed:.1f}% "
            f"[{100 * low:.1f}, {100 * high:.1f}] | {100 * predicted:.1f}% "
            f"| {'✅ within the interval' if agrees else '❌ outside the interval'} |",
            "",
            "A true drop smaller than the stated minimum detectable drop is blocked less than 4 times in 5, as the "
            "report says; the predicted share uses only what each PR's report states (its interval and margin).",
        ]
    )
    write_results(
        "gate_mde",
        md,
        {
            "rows": args.rows,
            "simulated": len(sims),
            "blocked": blocked,
            "observed_rate": observed,
            "wilson95": [low, high],
            "predicted_rate": predicted,
            "median_minimum_detectable": mde,
            "mean_true_drop": true_drop,
            "agrees": agrees,
            "z": Z if math.isfinite(Z) else None,
        },
    )


if __name__ == "__main__":
    main()
