"""The drift report: markdown (what drifted, how much, what to do), one PNG per drifted feature,
and the machine-readable summary the workflows read."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_template.core.config import MonitorParams
from mlops_template.ops.monitoring.drift import DriftResult, FeatureDrift
from mlops_template.ops.monitoring.window import Window

REPORT_MARKER = "<!-- mlops-template drift-monitor -->"
RETRAIN_STATUSES = ("drift", "degraded")


@dataclass(frozen=True)
class Section:
    """An extra block of the monitor's output: ``summary.json[key] = data`` and ``markdown`` appended to drift.md
    and the issue body. The performance block is one (ops/monitoring/performance.py); add others the same way."""

    key: str
    data: dict[str, Any] | None
    markdown: str


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "feature"


def plot_feature(f: FeatureDrift, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(f.buckets))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(x) + 2), 3.4))
    ax.bar(x - 0.2, f.reference_share, width=0.4, label="reference (training)")
    ax.bar(x + 0.2, f.current_share, width=0.4, label="served window")
    ax.set_xticks(x, f.buckets, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_title(f"{f.feature}: PSI {f.psi:.2f}, {f.test} p={f.p_value:.2g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def summary(
    status: str, message: str, params: MonitorParams, window: Window | None, result: DriftResult | None
) -> dict[str, Any]:
    return {
        "status": status,  # ok | drift | degraded | insufficient_data | error
        "message": message,
        "retrain": status in RETRAIN_STATUSES,
        "thresholds": params.model_dump(),
        "window": None
        if window is None
        else {
            "rows": len(window.frame),
            "lines": window.lines,
            "malformed": window.malformed,
            "malformed_examples": window.malformed_examples,
            "outside_window": window.outside_window,
            "first_ts": window.first_ts,
            "last_ts": window.last_ts,
            "model_versions": window.model_versions,
            "files": window.files,
        },
        "drift_share": None if result is None else result.drift_share,
        "drifted_features": [] if result is None else [f.feature for f in result.drifted],
        "features": [] if result is None else [f.to_dict() for f in result.features],
    }


def markdown(
    status: str,
    message: str,
    params: MonitorParams,
    window: Window | None,
    result: DriftResult | None,
    images: dict[str, str],
) -> str:
    title = {
        "ok": "no drift",
        "drift": "DRIFT: retraining triggered",
        "degraded": "PERFORMANCE DEGRADED: retraining triggered",
        "insufficient_data": "not enough traffic for a verdict",
        "error": "monitor failed",
    }[status]
    lines = [REPORT_MARKER, f"## Drift monitor: {title}", "", message, ""]
    if window is not None:
        versions = ", ".join(f"`{v}` ({n})" for v, n in window.model_versions.items()) or "none"
        lines += [
            f"- window: {len(window.frame)} records, {window.first_ts or '-'} .. {window.last_ts or '-'} "
            f"(last {params.window} records"
            + (f" of the last {params.window_hours:g} h" if params.window_hours else "")
            + ")",
            f"- log lines read: {window.lines}, unreadable and skipped: {window.malformed}"
            + (f" (e.g. {'; '.join(window.malformed_examples[:3])})" if window.malformed else ""),
            f"- model versions in the window: {versions}",
        ]
    lines += [
        f"- rule: a feature drifts when PSI >= {params.psi_threshold:g} "
        f"and the two-sample test's p < {params.p_value:g}; "
        f"retraining when at least {params.drift_share:.0%} of the features drift",
        "",
    ]
    if result is not None:
        lines += [
            f"**{len(result.drifted)} of {len(result.features)} features drifted ({result.drift_share:.0%}).**",
            "",
            "| feature | kind | PSI | test | p-value | missing ref -> now | new values | drifted |",
            "|---|---|---:|---|---:|---|---|:-:|",
        ]
        for f in sorted(result.features, key=lambda f: (not f.drifted, -f.psi)):
            new = ", ".join(f"`{k}` ({v})" for k, v in list(f.new_values.items())[:5])
            note = f" ({f.note})" if f.note else ""
            lines.append(
                f"| {f.feature}{note} | {f.kind} | {f.psi:.3f} | {f.test} | {f.p_value:.2g} | "
                f"{f.missing_share_reference:.1%} -> {f.missing_share_current:.1%} | {new} | "
                f"{'**yes**' if f.drifted else ''} |"
            )
        if images:
            lines += ["", "### Drifted features", ""]
            lines += [f"![{name}]({img})" for name, img in images.items()]
    if status in RETRAIN_STATUSES:
        lines += [
            "",
            "Next: the retraining workflow proposes a model trained on fresh data as a pull request; review it there.",
        ]
    return "\n".join(lines) + "\n"


def issue_body(report: str) -> str:
    """The report as an issue body: no local images; a link to the run (charts in its artifact)."""
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    link = (
        f"Charts of drifted features: the `drift-report` artifact of [this run]({server}/{repo}/actions/runs/{run})."
        if server and repo and run
        else "Charts of the drifted features: the PNGs next to drift.md."
    )
    return f"{report}\n{link}\n"


def write_report(
    out: Path,
    status: str,
    message: str,
    params: MonitorParams,
    window: Window | None,
    result: DriftResult | None,
    sections: Sequence[Section] = (),
) -> dict[str, Any]:
    """drift.md, issue.md and summary.json; every extra block (``sections``) is added here, in one place."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("drift-*.png"):
        old.unlink()
    images: dict[str, str] = {}
    if result is not None:
        for f in result.drifted:
            name = f"drift-{_slug(f.feature)}.png"
            plot_feature(f, out / name)
            images[f.feature] = name
    payload = summary(status, message, params, window, result)
    extra = "".join(f"\n{section.markdown}" for section in sections)
    for section in sections:
        payload[section.key] = section.data
    report = markdown(status, message, params, window, result, images) + extra
    (out / "drift.md").write_text(report, encoding="utf-8")
    issue = issue_body(markdown(status, message, params, window, result, {}) + extra)
    (out / "issue.md").write_text(issue, encoding="utf-8")
    import json

    (out / "summary.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return payload


def performance_markdown(block: dict[str, Any] | None, hint: str = "") -> str:
    """The report's performance section (``block``: ops/monitoring/performance.py; None: no labels configured)."""
    if block is None:
        return f"### Live performance: no labels\n\n{hint}\n"
    title = {
        "ok": "no degradation",
        "degraded": "DEGRADED",
        "insufficient_labels": "not enough labels for a verdict",
        "unavailable": "not measurable from the log",
        "error": "labels unusable",
    }[block["status"]]
    lines = [f"### Live performance: {title}", "", block["message"], ""]
    if "counts" not in block:  # the labels, the card or the test metrics could not be read
        return "\n".join(lines)
    if block.get("live_value") is not None:
        lines += [
            f"| metric | test set | margin | live | {block['confidence']:.0%} CI | labelled rows |",
            "|---|---:|---:|---:|---|---:|",
            f"| {block['metric']} | {block['test_value']:.4f}"
            + (f" (se {block['test_se']:.4f})" if block.get("test_se") else "")
            + f" | {block['margin']:g} | {block['live_value']:.4f} | "
            f"[{block['ci_low']:.4f}, {block['ci_high']:.4f}] | {block['labelled_rows']} |",
            "",
        ]
    coverage = block["label_coverage"]
    delay = block["label_delay"]
    delay_text = (
        "no label times (`ts`)"
        if delay is None
        else f"median {delay['median_hours']:.1f} h, p90 {delay['p90_hours']:.1f} h ({delay['rows']} labels)"
    )
    c = block["counts"]
    lines += [
        f"- window: {block['predictions_in_window']} predictions of the last {block['horizon_days']:g} days, "
        f"{block['labelled_rows']} labelled (coverage {'-' if coverage is None else f'{coverage:.1%}'})",
        f"- label delay: {delay_text}",
        f"- label rows: {c['label_rows']}; unusable: {c['malformed']} unreadable, {c['type_errors']} wrong type, "
        f"{c['duplicate_ids']} duplicate ids, {c['unknown_ids']} unknown ids; {c['outside_horizon']} for older "
        "predictions (outside the horizon)"
        + (f" (e.g. {'; '.join(block['bad_label_examples'][:3])})" if block["bad_label_examples"] else ""),
    ]
    estimate = block.get("estimate")
    if estimate and estimate["value"] is not None:
        on_labelled = estimate["on_labelled_rows"]
        lines.append(
            f"- **estimated** {estimate['metric']} of the {estimate['unlabelled_rows']} unlabelled predictions: "
            f"{estimate['value']:.4f} (CBPE from the logged probabilities"
            + (f"; on the labelled rows it estimates {on_labelled:.4f}" if on_labelled is not None else "")
            + "). An estimate: it never triggers anything."
        )
    return "\n".join(lines) + "\n"
