"""``make monitor LOG=... [LABELS=...]``: the served window vs the reference profile (drift) and, with ground-truth
labels, the live performance vs the model's test metric; report, verdict, exit code.

Exit codes (of ``mlops monitor``; make itself turns any failure into 2):
0 no drift (and no degradation), 3 drift (retraining advised), 5 performance degraded (retraining advised),
4 not enough traffic for a drift verdict, 1 error (no log, no profile, bad params, too many unreadable lines
or unusable label rows). Precedence: error > degraded > drift > insufficient data > ok: a degraded model is
retrained whatever its inputs look like, and "insufficient labels" alone never changes the status.
``--exit-zero`` returns 0 for drift, degraded and insufficient data too (workflows read ``status`` from the
summary / $GITHUB_OUTPUT instead).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_template.core import paths
from mlops_template.core.config import ConfigError, MonitorParams, Params
from mlops_template.core.errors import DataSourceError
from mlops_template.ops.monitoring.drift import DriftResult, compare
from mlops_template.ops.monitoring.labels import Labels, read_labels
from mlops_template.ops.monitoring.report import Section, performance_markdown, write_report
from mlops_template.ops.monitoring.shadow import ShadowComparison, shadow_from_log
from mlops_template.ops.monitoring.shadow import section_parts as shadow_section
from mlops_template.ops.monitoring.window import LogLines, Window, read_log_lines, window_of

EXIT = {"ok": 0, "error": 1, "drift": 3, "insufficient_data": 4, "degraded": 5}
RETRAIN_REASON = {"drift": "drift detected by the monitor", "degraded": "performance degraded"}
NO_LABELS = (
    "No labels configured: with `make monitor LABELS=...` ($PREDICTION_LABELS; the workflow's variable "
    "PREDICTION_LABELS_URL) the monitor joins ground-truth labels to the logged predictions by id and reports "
    "the live performance (docs/continuous-training.md)."
)


@dataclass(frozen=True)
class PerformanceInputs:
    """Where the live-performance check reads from: the labels, the model card and its test metrics."""

    labels: str  # path, glob or fsspec URL
    params: Params
    card: Path
    metrics: Path
    # the test metrics' standard errors (evaluate stage); None: test_uncertainty.json beside `metrics`
    uncertainty: Path | None = None

    def uncertainty_path(self) -> Path:
        return self.uncertainty or self.metrics.with_name(paths.TEST_UNCERTAINTY.name)


def test_errors_of(path: Path) -> dict[str, float] | None:
    """The test metrics' bootstrap standard errors the evaluate stage recorded; None when there is no such file
    (an older pipeline: the test metric is then taken as exact, and the report says so)."""
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{path}: cannot read the test metrics' standard errors: {err}: re-run `make repro`"
        ) from None
    errors = recorded.get("standard_errors") if isinstance(recorded, dict) else None
    if not isinstance(errors, dict) or not all(isinstance(v, int | float) for v in errors.values()):
        raise ConfigError(f"{path}: no `standard_errors` object of numbers: re-run `make repro`")
    return {str(k): float(v) for k, v in errors.items()}


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


def drift_verdict(profile: dict, window: Window, params: MonitorParams) -> tuple[str, str, DriftResult | None]:
    rows = len(window.frame)
    if window.lines and window.malformed / window.lines > params.max_malformed_share:
        return (
            "error",
            f"{window.malformed} of {window.lines} log lines are unreadable (more than monitor.max_malformed_share "
            f"= {params.max_malformed_share:.0%}): is LOG a prediction log? "
            f"e.g. {'; '.join(window.malformed_examples[:3])}",
            None,
        )
    if rows == 0:
        return (
            "insufficient_data",
            "The window is empty: no served records"
            + (f" in the last {params.window_hours:g} hours" if params.window_hours else "")
            + ". No verdict.",
            None,
        )
    if rows < params.min_rows:
        return (
            "insufficient_data",
            f"Only {rows} served records in the window, fewer than monitor.min_rows = {params.min_rows}. No verdict.",
            None,
        )
    result = compare(profile, window.frame, params)
    n = len(result.drifted)
    if result.drift:
        return (
            "drift",
            f"{n} of {len(result.features)} features drifted ({result.drift_share:.0%} >= monitor.drift_share "
            f"{params.drift_share:.0%}) over {rows} served records: "
            f"{', '.join(f.feature for f in result.drifted[:10])}.",
            result,
        )
    return (
        "ok",
        f"{n} of {len(result.features)} features drifted ({result.drift_share:.0%} < monitor.drift_share "
        f"{params.drift_share:.0%}) over {rows} served records.",
        result,
    )


def read_labels_of(inputs: PerformanceInputs) -> Labels | str:
    """The labels source, read once per run (the performance check and the shadow comparison both use it), or
    why it cannot be read."""
    try:
        return read_labels(inputs.labels, inputs.params.data.id_column, inputs.params.data.target)
    except (DataSourceError, ValueError) as err:
        return str(err)


def measure_performance(
    inputs: PerformanceInputs, window: Window, labels: Labels | str, now: datetime | None = None
) -> dict[str, Any]:
    """The card and the test metrics, and the labels read by read_labels_of (or why they could not be): the
    performance block (an error block on bad input)."""
    from mlops_template.core.model_card import load_card
    from mlops_template.ops.monitoring.performance import performance_block, setup_of

    try:
        card = load_card(inputs.card)
        metrics = json.loads(inputs.metrics.read_text(encoding="utf-8"))
        setup = setup_of(inputs.params, card.classes, metrics, test_errors_of(inputs.uncertainty_path()))
        if isinstance(labels, str):
            raise DataSourceError(labels)
    except FileNotFoundError as err:
        message = f"{err.filename}: not found: the served model's card and test metrics come from `make repro`"
        return {"status": "error", "message": message}
    except (ConfigError, DataSourceError, ValueError) as err:
        return {"status": "error", "message": str(err)}
    block = performance_block(window.predictions, labels.frame, setup, now or datetime.now(UTC), labels.malformed)
    block["bad_label_examples"] = labels.malformed_examples[:3] + block["bad_label_examples"]
    block["files"] = labels.files
    return block


def combine(status: str, message: str, performance: dict[str, Any] | None) -> tuple[str, str]:
    """The overall verdict of drift and live performance (precedence in the module doc)."""
    if performance is None or status == "error":
        return status, message
    if performance["status"] == "error":
        return "error", f"labels: {performance['message']}"
    if performance["status"] == "degraded":
        return "degraded", f"Live performance degraded: {performance['message']} Drift: {message}"
    return status, f"{message} Live performance: {performance['message']}"


def shadow_or_none(log: LogLines, labels: Labels | str | None, params: Params) -> ShadowComparison | None:
    """The shadow challenger comparison of the log's lines; None without a challenger, or when the labels source
    cannot be read (a warning here; the performance check reports it as the error)."""
    if isinstance(labels, str):
        print(f"[monitor] shadow comparison skipped: {labels}", file=sys.stderr)
        return None
    return shadow_from_log(log, None if labels is None else labels.frame, params)


def run_monitor(
    log: str,
    profile_path: Path,
    out: Path,
    params: MonitorParams,
    performance: PerformanceInputs | None = None,
    now: datetime | None = None,
    shadow_params: Params | None = None,
) -> dict:
    """Compare, measure, write the report, return the summary (``status`` is one of EXIT's keys).

    The prediction log and the labels are read once: the drift window, the live performance and (with
    ``shadow_params``, the project's params) the shadow challenger comparison take their rows from that read."""
    window = result = None
    try:
        profile = load_profile(profile_path)
        lines = read_log_lines(log)
        window = window_of(lines, params.window, params.window_hours)
    except (ConfigError, DataSourceError) as err:
        return write_report(out, "error", str(err), params, window, result)
    labels = None if performance is None else read_labels_of(performance)
    status, message, result = drift_verdict(profile, window, params)
    block = None
    if performance is not None and labels is not None and status != "error":
        block = measure_performance(performance, window, labels, now)
    shadow = None if shadow_params is None else shadow_or_none(lines, labels, shadow_params)
    status, message = combine(status, message, block)
    hint = NO_LABELS if performance is None else "Not measured: the prediction log could not be used (above)."
    sections = [Section("performance", block, performance_markdown(block, hint))]
    sections.append(Section("shadow", *shadow_section(shadow)))  # the shadow challenger (null without one)
    payload = write_report(out, status, message, params, window, result, sections)
    return payload


def github_output(payload: dict, report: Path) -> None:
    """Expose the verdict to a GitHub Actions step (no-op elsewhere)."""
    from mlops_template.ops.github import set_output

    status = str(payload["status"])
    set_output(
        status=status,
        retrain=str(payload["retrain"]).lower(),
        reason=RETRAIN_REASON.get(status, ""),
        report=str(report),
    )
