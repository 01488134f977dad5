"""The drift report: markdown (what drifted, how much, what to do), one PNG per drifted feature,
and the machine-readable summary the workflows read."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mlops_template.config import MonitorParams
from mlops_template.monitoring.drift import DriftResult, FeatureDrift
from mlops_template.monitoring.shadow import ShadowComparison, section_parts
from mlops_template.monitoring.window import Window

REPORT_MARKER = "<!-- mlops-template drift-monitor -->"


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
    status: str,
    message: str,
    params: MonitorParams,
    window: Window | None,
    result: DriftResult | None,
    shadow: ShadowComparison | None = None,
) -> dict[str, Any]:
    return {
        "status": status,  # ok | drift | insufficient_data | error
        "message": message,
        "retrain": status == "drift",
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
        "shadow": section_parts(shadow)[0],  # what `make promote-challenger` reads
    }


def markdown(
    status: str,
    message: str,
    params: MonitorParams,
    window: Window | None,
    result: DriftResult | None,
    images: dict[str, str],
    shadow: ShadowComparison | None = None,
) -> str:
    title = {
        "ok": "no drift",
        "drift": "DRIFT: retraining triggered",
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
    if shadow is not None:
        lines += ["", section_parts(shadow)[1]]
    if status == "drift":
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
    shadow: ShadowComparison | None = None,
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("drift-*.png"):
        old.unlink()
    images: dict[str, str] = {}
    if result is not None:
        for f in result.drifted:
            name = f"drift-{_slug(f.feature)}.png"
            plot_feature(f, out / name)
            images[f.feature] = name
    payload = summary(status, message, params, window, result, shadow)
    report = markdown(status, message, params, window, result, images, shadow)
    (out / "drift.md").write_text(report, encoding="utf-8")
    (out / "issue.md").write_text(
        issue_body(markdown(status, message, params, window, result, {}, shadow)), encoding="utf-8"
    )
    import json

    (out / "summary.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return payload
