"""python -m mlops_template.monitoring --log LOG [--out reports/monitor] [--exit-zero]

Compares the last window of served inputs (prediction log: a file, glob or fsspec URL) with the
reference profile (models/reference_profile.json), writes OUT/drift.md, OUT/summary.json and a PNG
per drifted feature. Exit codes: 0 no drift, 3 drift, 4 not enough traffic, 1 error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mlops_template import paths
from mlops_template.config import ConfigError, load_params
from mlops_template.monitoring.monitor import EXIT, github_output, run_monitor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_template.monitoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log",
        default=os.environ.get("PREDICTION_LOG") or None,
        help="prediction log: path, glob or URL (s3://bucket/logs/*.jsonl); default $PREDICTION_LOG, "
        "else serving.prediction_log_path",
    )
    parser.add_argument(
        "--profile", default=str(paths.REFERENCE_PROFILE), help="reference profile (DVC stage `profile`)"
    )
    parser.add_argument("--out", default=str(paths.MONITOR_DIR), help="folder for drift.md, summary.json and PNGs")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 on drift / too little traffic (errors still 1)"
    )
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
    except ConfigError as err:
        print(f"[monitor] ERROR: {err}", file=sys.stderr)
        return 1
    log = args.log or params.serving.prediction_log_path
    out = Path(args.out)
    payload = run_monitor(log, Path(args.profile), out, params.monitor)
    github_output(payload, out / "drift.md")
    status = payload["status"]
    stream = sys.stderr if status == "error" else sys.stdout
    print(f"[monitor] {status}: {payload['message']}", file=stream)
    print(f"[monitor] report: {out / 'drift.md'}, summary: {out / 'summary.json'}", file=stream)
    code = EXIT[status]
    return code if (code == 1 or not args.exit_zero) else 0


if __name__ == "__main__":
    sys.exit(main())
