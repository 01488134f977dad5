"""In-process latency of one mixed-type record through the service's predictor, path by path (issue 19).

    make bench-fast-path     (or: uv run python benchmarks/bench_fast_path.py [--seconds 0.5])

The walkthrough's generated tables (tests/integration/datasets.py): churn (categoricals, missing values,
booleans, a nullable boolean, "True"/"False" strings) for binary, multiclass and regression, and farm visits
with a ``role: date`` column; each with the three estimators at params.yaml's default sizes. A record is
scored alone (``Predictor.outputs([record])``, what ``/predict`` calls), cycling through request-shaped
records that include unseen categories and all-missing rows. Paths, side by side in one run (taking turns):

- ``dataframe``: a one-row DataFrame through the pipeline (the fallback; before issue 19 the churn table
  was served this way);
- ``numpy + sklearn transforms``: the branch matrix through each fitted transformer's ``transform`` (before
  issue 19 the visits table was served this way);
- ``numpy kernels``: the kernels built from the fitted transformers, then the estimator (exact);
- ``kernels + ONNX``: what ``make bento`` attaches when its check passes (the estimator in ONNX Runtime).

Thread pools are pinned to one thread, as the served model's are. Writes benchmarks/results/fast_path.*.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_results  # noqa: E402
from mlops_template.ops.serving.onnx_path import convert_estimator  # noqa: E402
from mlops_template.ops.serving.predictor import Predictor  # noqa: E402
from tests.unit.test_mixed_fast_path import CASES, fitted, requests  # noqa: E402

ESTIMATORS = ["linear", "random_forest", "hist_gradient_boosting"]
PATHS = ["dataframe", "numpy + sklearn transforms", "numpy kernels", "kernels + ONNX"]


def per_record_ms(paths: dict[str, Predictor], records: list[dict[str, Any]], seconds: float) -> dict[str, float]:
    """Median over 5 rounds of ms per single-record call; the paths take turns within each round (so a
    change in the machine's load hits all of them), each for about ``seconds`` per round."""
    calls = {}
    for name, predictor in paths.items():  # calibrate: how many calls fill the time slot
        t0 = time.perf_counter()
        for record in records[:10]:
            predictor.outputs([record])
        calls[name] = max(10, int(seconds / ((time.perf_counter() - t0) / 10)))
    rounds: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(5):
        for name, predictor in paths.items():
            t0 = time.perf_counter()
            for i in range(calls[name]):
                predictor.outputs([records[i % len(records)]])
            rounds[name].append((time.perf_counter() - t0) / calls[name] * 1e3)
    return {name: statistics.median(times) for name, times in rounds.items()}


def predictors(case: str, model: str) -> tuple[dict[str, Predictor], list[dict[str, Any]]]:
    pipeline, features, spec, raw = fitted(case, model, small=False)
    records = requests(pipeline, raw, features, spec)
    kernels = Predictor(pipeline, features, spec)
    transforms = Predictor(pipeline, features, spec)
    transforms._kernels = False  # noqa: SLF001 - timed on purpose: the branch matrix through sklearn's transform
    width = kernels.transform(kernels.matrix(records[:1])).shape[1]
    onnx, _ = convert_estimator(kernels.estimator, width)
    served = Predictor(pipeline, features, spec, onnx=onnx) if onnx is not None else None
    paths = {
        "dataframe": Predictor(pipeline, features, spec, fast=False),
        "numpy + sklearn transforms": transforms,
        "numpy kernels": kernels,
    }
    if served is not None and served.mode.startswith("numpy+onnx"):
        paths["kernels + ONNX"] = served
    return paths, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per path per round")
    args = parser.parse_args(argv)
    rows = []
    for case in CASES:
        for model in ESTIMATORS:
            paths, records = predictors(case, model)
            ms = per_record_ms(paths, records, args.seconds)
            best = min(ms[p] for p in ("numpy kernels", "kernels + ONNX") if p in ms)
            rows.append({"case": case, "model": model, "ms": ms, "speedup": ms["dataframe"] / best})
            print(case, model, {k: round(v, 4) for k, v in ms.items()}, flush=True)
    table = [
        "| data | model | " + " | ".join(f"{p} (ms)" for p in PATHS) + " | dataframe ÷ fastest |",
        "|---" * (len(PATHS) + 3) + "|",
    ]
    for r in rows:
        cells = [f"{r['ms'][p]:.3f}" if p in r["ms"] else "–" for p in PATHS]
        table.append(f"| {r['case']} | {r['model']} | " + " | ".join(cells) + f" | **{r['speedup']:.0f}×** |")
    speedups = sorted(r["speedup"] for r in rows)
    markdown = "\n".join(
        [
            "## Mixed-type records on the fast path (in process, one record per call)",
            "",
            "Single-record latency of the service's predictor on the walkthrough's generated tables (categoricals "
            "with unseen values, missing values, booleans, dates); median of 5 rounds in which the paths take turns, "
            "thread pools pinned to one thread. `make bench-fast-path`.",
            "",
            *table,
            "",
            f"The fast path is {speedups[0]:.0f}–{speedups[-1]:.0f}× faster than the DataFrame fallback "
            "(compare within a row: absolute times vary with the machine's load; "
            f"load average at the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs).",
        ]
    )
    write_results("fast_path", markdown, {"seconds": args.seconds, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
