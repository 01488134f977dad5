"""``make monitor LOG=...``: the served window vs the reference profile, report, verdict, exit code.

Exit codes (of ``python -m mlops_template.cli monitor``; make itself turns any failure into 2):
0 no drift, 3 drift (retraining advised), 4 not enough traffic for a verdict, 1 error (no log,
no profile, bad params, too many unreadable lines). ``--exit-zero`` returns 0 for drift and
insufficient data too (workflows read ``status`` from the summary / $GITHUB_OUTPUT instead).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlops_template.config import ConfigError, MonitorParams
from mlops_template.errors import DataSourceError
from mlops_template.monitoring.drift import compare
from mlops_template.monitoring.report import write_report
from mlops_template.monitoring.shadow import ShadowComparison
from mlops_template.monitoring.window import read_window

EXIT = {"ok": 0, "error": 1, "drift": 3, "insufficient_data": 4}


def load_profile(path: Path) -> dict:
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: reference profile not found: run `make repro` (DVC stage `profile`) first"
        ) from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: reference profile is not valid JSON: {err}") from None
    if not isinstance(profile, dict) or "columns" not in profile or "features" not in profile:
        raise ConfigError(f"{path}: not a reference profile (no `features`/`columns`): re-run `make repro`")
    return profile


def run_monitor(
    log: str, profile_path: Path, out: Path, params: MonitorParams, shadow: ShadowComparison | None = None
) -> dict:
    """Compare, write the report, return the summary (``status`` is one of EXIT's keys). ``shadow``: the
    challenger comparison (:func:`~mlops_template.monitoring.shadow.shadow_from_log`), reported as it is."""
    window = result = None
    try:
        profile = load_profile(profile_path)
        window = read_window(log, params.window, params.window_hours)
    except (ConfigError, DataSourceError) as err:
        return write_report(out, "error", str(err), params, window, result, shadow)
    rows = len(window.frame)
    if window.lines and window.malformed / window.lines > params.max_malformed_share:
        status, message = (
            "error",
            f"{window.malformed} of {window.lines} log lines are unreadable (more than monitor.max_malformed_share "
            f"= {params.max_malformed_share:.0%}): is LOG a prediction log? "
            f"e.g. {'; '.join(window.malformed_examples[:3])}",
        )
    elif rows == 0:
        status, message = (
            "insufficient_data",
            "The window is empty: no served records"
            + (f" in the last {params.window_hours:g} hours" if params.window_hours else "")
            + ". No verdict.",
        )
    elif rows < params.min_rows:
        status, message = (
            "insufficient_data",
            f"Only {rows} served records in the window, fewer than monitor.min_rows = {params.min_rows}. No verdict.",
        )
    else:
        result = compare(profile, window.frame, params)
        n = len(result.drifted)
        if result.drift:
            status = "drift"
            message = (
                f"{n} of {len(result.features)} features drifted ({result.drift_share:.0%} >= monitor.drift_share "
                f"{params.drift_share:.0%}) over {rows} served records: "
                f"{', '.join(f.feature for f in result.drifted[:10])}."
            )
        else:
            status = "ok"
            message = (
                f"{n} of {len(result.features)} features drifted ({result.drift_share:.0%} < monitor.drift_share "
                f"{params.drift_share:.0%}) over {rows} served records."
            )
    return write_report(out, status, message, params, window, result, shadow)


def github_output(payload: dict, report: Path) -> None:
    """Expose the verdict to a GitHub Actions step (no-op elsewhere)."""
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(f"status={payload['status']}\nretrain={str(payload['retrain']).lower()}\nreport={report}\n")
