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
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_template.core.config import ConfigError, MonitorParams, Params
from mlops_template.core.errors import DataSourceError
from mlops_template.ops.monitoring.drift import DriftResult, compare
from mlops_template.ops.monitoring.report import Section, performance_markdown, write_report
from mlops_template.ops.monitoring.shadow import ShadowComparison
from mlops_template.ops.monitoring.shadow import section_parts as shadow_section
from mlops_template.ops.monitoring.window import Window, read_window

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


def measure_performance(inputs: PerformanceInputs, window: Window, now: datetime | None = None) -> dict[str, Any]:
    """Read the labels, the card and the test metrics; the performance block (an error block on bad input)."""
    from mlops_template.core.model_card import load_card
    from mlops_template.ops.monitoring.labels import read_labels
    from mlops_template.ops.monitoring.performance import performance_block, setup_of

    data = inputs.params.data
    try:
        card = load_card(inputs.card)
        metrics = json.loads(inputs.metrics.read_text(encoding="utf-8"))
        setup = setup_of(inputs.params, card.classes, metrics)
        labels = read_labels(inputs.labels, data.id_column, data.target)
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


def run_monitor(
    log: str,
    profile_path: Path,
    out: Path,
    params: MonitorParams,
    performance: PerformanceInputs | None = None,
    now: datetime | None = None,
    shadow: ShadowComparison | None = None,
) -> dict:
    """Compare, measure, write the report, return the summary (``status`` is one of EXIT's keys)."""
    window = result = None
    try:
        profile = load_profile(profile_path)
        window = read_window(log, params.window, params.window_hours)
    except (ConfigError, DataSourceError) as err:
        return write_report(out, "error", str(err), params, window, result)
    status, message, result = drift_verdict(profile, window, params)
    block = None if performance is None or status == "error" else measure_performance(performance, window, now)
    status, message = combine(status, message, block)
    hint = NO_LABELS if performance is None else "Not measured: the prediction log could not be used (above)."
    sections = [Section("performance", block, performance_markdown(block, hint))]
    sections.append(Section("shadow", *shadow_section(shadow)))  # the shadow challenger (null without one)
    payload = write_report(out, status, message, params, window, result, sections)
    return payload


def github_output(payload: dict, report: Path) -> None:
    """Expose the verdict to a GitHub Actions step (no-op elsewhere)."""
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            reason = RETRAIN_REASON.get(payload["status"], "")
            handle.write(
                f"status={payload['status']}\nretrain={str(payload['retrain']).lower()}\nreason={reason}\n"
                f"report={report}\n"
            )
