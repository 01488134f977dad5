"""mlops monitor --log LOG [--labels LABELS] [--out reports/monitor] [--exit-zero]
[--skip-unconfigured]

Compares the last window of served inputs (prediction log: a file, glob or fsspec URL) with the
reference profile (models/reference_profile.json), writes OUT/drift.md, OUT/summary.json and a PNG
per drifted feature. With LABELS (ground truth: CSV/Parquet/JSONL rows of data.id_column, data.target and
optionally ts; a file, glob or fsspec URL), it also joins them to the logged predictions by id and compares
the live primary metric with the model's test metric (summary.json `performance`).
Exit codes: 0 no drift, 3 drift, 5 performance degraded, 4 not enough traffic, 1 error
(precedence: error > degraded > drift; see ops/monitoring/monitor.py).
--skip-unconfigured (the scheduled workflow): with neither --log nor $PREDICTION_LOG, say how to configure
the log (a notice, OUT/skipped.md for the job summary, status `unconfigured`) and exit 0 instead of failing
every day on a repository that serves nothing yet.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mlops_template.core import paths
from mlops_template.core.config import ConfigError, load_params
from mlops_template.ops.monitoring.monitor import EXIT, PerformanceInputs, github_output, run_monitor

SKIPPED = """## Drift monitor: skipped (no prediction log configured)

Nothing was compared: this repository has no prediction log configured yet, so the daily run skips instead
of failing. To turn the monitor on, point it at the log your service writes (a path, glob or URL read with
fsspec, e.g. `s3://bucket/prediction-logs/*.jsonl`):

- Settings → Secrets and variables → Actions → Variables → New repository variable `PREDICTION_LOG_URL`;
- for an S3 (or MinIO/R2) log, the secrets `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the variable
  `AWS_DEFAULT_REGION`;
- or run the workflow by hand with its `log` input.

See docs/continuous-training.md.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops monitor`` (``make monitor``; mlops_template/cli.py)."""
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--log",
        default=os.environ.get("PREDICTION_LOG") or None,
        help="prediction log: path, glob or URL (s3://bucket/logs/*.jsonl); default $PREDICTION_LOG, "
        "else serving.prediction_log_path",
    )
    parser.add_argument(
        "--labels",
        default=os.environ.get("PREDICTION_LABELS") or None,
        help="ground-truth labels: path, glob or URL of CSV/Parquet/JSONL; default $PREDICTION_LABELS, else none "
        "(no performance check)",
    )
    parser.add_argument("--card", default=str(paths.MODEL_METADATA), help="the served model's card")
    parser.add_argument(
        "--metrics",
        default=str(paths.METRICS),
        help="the served model's test metrics (their standard errors: test_uncertainty.json beside it)",
    )
    parser.add_argument(
        "--profile", default=str(paths.REFERENCE_PROFILE), help="reference profile (DVC stage `profile`)"
    )
    parser.add_argument("--out", default=str(paths.MONITOR_DIR), help="folder for drift.md, summary.json and PNGs")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 on drift / degraded / too little traffic (errors still 1)"
    )
    parser.add_argument(
        "--skip-unconfigured",
        action="store_true",
        help="with no --log and no $PREDICTION_LOG: explain how to configure it and exit 0 (status unconfigured)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.skip_unconfigured and not (args.log or "").strip():
        return skip_unconfigured(Path(args.out))
    try:
        params = load_params(args.params)
    except ConfigError as err:
        print(f"[monitor] ERROR: {err}", file=sys.stderr)
        return 1
    log = args.log or params.serving.prediction_log_path
    out = Path(args.out)
    labels = (args.labels or "").strip()
    performance = PerformanceInputs(labels, params, Path(args.card), Path(args.metrics)) if labels else None
    payload = run_monitor(log, Path(args.profile), out, params.monitor, performance, shadow_params=params)
    github_output(payload, out / "drift.md")
    status = payload["status"]
    stream = sys.stderr if status == "error" else sys.stdout
    print(f"[monitor] {status}: {payload['message']}", file=stream)
    print(f"[monitor] report: {out / 'drift.md'}, summary: {out / 'summary.json'}", file=stream)
    code = EXIT[status]
    return code if (code == 1 or not args.exit_zero) else 0


def skip_unconfigured(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "skipped.md").write_text(SKIPPED, encoding="utf-8")
    print(
        "::notice title=drift monitor skipped::no prediction log configured: set the repository variable "
        "PREDICTION_LOG_URL (see the job summary and docs/continuous-training.md)",
        flush=True,
    )
    print("[monitor] unconfigured: no prediction log (PREDICTION_LOG_URL / --log); skipped", file=sys.stderr)
    from mlops_template.ops.github import set_output

    set_output(status="unconfigured", retrain="false")
    return 0
