"""The pull-request report: one markdown document for one sticky CML comment (pure rendering).

Everything an image shows is also in a table, so the report stays complete when images cannot be
uploaded (CML's image hosting is flaky; fork PRs may post nothing and fall back to the job summary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mlops_template.core.metric_catalogue import CATALOGUE
from mlops_template.experiment.compare import Comparison, GateResult, MetricComparison
from mlops_template.experiment.diffs import Change, DataDiff
from mlops_template.experiment.formatting import num, signed

VERDICT_ICON = {
    "improved": "🟢",
    "no detectable change": "⚪",
    "not detectable at this data size": "🟡",
    "changed, but within the margin": "🔵",
    "regressed": "🔴",
    "not comparable": "⚫",
}


@dataclass(frozen=True)
class Confusion:
    labels: list[str]
    matrix: list[list[int]]


@dataclass(frozen=True)
class ModelFacts:
    sha: str
    size_mb: float
    latency_ms: float
    confusion: Confusion | None = None
    mlflow_url: str | None = None


@dataclass(frozen=True)
class Image:
    file: str
    alt: str


@dataclass(frozen=True)
class ReportInput:
    base_ref: str
    baseline: ModelFacts
    candidate: ModelFacts
    baseline_source: str
    comparison: Comparison
    params_changes: list[Change]
    data: DataDiff
    validation_md: str | None
    images: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    policy_changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class NotComparableInput:
    base_ref: str
    base_sha: str
    candidate: ModelFacts
    comparison: Comparison
    why: list[Change]
    params_changes: list[Change]
    policy_changes: list[Change]
    test_rows: int
    validation_md: str | None
    notes: list[str] = field(default_factory=list)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text.replace("|", "\\|") if text else '""'


def _metric_row(m: MetricComparison, primary: str) -> str:
    arrow = "↑" if m.higher_is_better else "↓"
    name = f"**{m.name}** (primary)" if m.name == primary else m.name
    d = m.decimals
    return (
        f"| {name} {arrow} | {num(m.baseline, d)} | {num(m.candidate, d)} | {signed(m.delta, d)} "
        f"| [{signed(m.ci_low, d)}, {signed(m.ci_high, d)}] | {m.margin:g} | {VERDICT_ICON[m.verdict]} {m.verdict} |"
    )


def action_line(base_ref: str, c: Comparison) -> str:
    """The report's first line: what to do (merge), or what blocked it."""
    head = "## Model comparison: candidate vs `" + base_ref + "` — "
    if c.gate.passed:
        return head + "✅ ready to merge (the gate passed)"
    blocked = "; ".join(reason.split(":")[0] for reason in c.gate.reasons)
    return head + f"❌ blocked: {blocked}"


def _headline(r: ReportInput) -> list[str]:
    c = r.comparison
    p = c.metric(c.primary_metric)
    gate = "✅ **Gate passed**" if c.gate.passed else "❌ **Gate failed**"
    d = p.decimals
    lines = [
        action_line(r.base_ref, c),
        "",
        f"{gate} — {VERDICT_ICON[c.verdict]} **{c.verdict}** on the primary metric "
        f"`{p.name}`: {num(p.baseline, d)} → {num(p.candidate, d)} (Δ {signed(p.delta, d)}, "
        f"{c.confidence:.0%} CI [{signed(p.ci_low, d)}, {signed(p.ci_high, d)}], margin {p.margin:g}; "
        f"{c.method}).",
        "",
    ]
    lines += _sensitivity(c, p)
    others = [m.name for m in c.metrics if m.verdict == "regressed" and m.name != c.primary_metric]
    if others:
        lines += [
            f"Other metrics that regressed beyond their margin (not gated unless in `compare.floors`): "
            f"{', '.join(others)}.",
            "",
        ]
    if c.gate.reasons:
        lines += ["**Why the gate failed:**", *[f"- {reason}" for reason in c.gate.reasons], ""]
    if not c.paired:
        lines += [
            "> ⚠️ **Unpaired comparison**: the test sets differ (this change touches the data or the split), so "
            "each model is scored on its own test set and the interval also contains the difference between the "
            "two test sets. Treat the verdict as indicative.",
            "",
        ]
    return lines


def _amount(name: str, value: float, decimals: int) -> str:
    """A change in metric units, and in points for metrics on a 0..1 scale (the catalogue's ``points``)."""
    info = CATALOGUE.get(name)
    return num(value, decimals) + (f" ({value * 100:.2g} points)" if info is None or info.points else "")


def _sensitivity(c: Comparison, p: MetricComparison) -> list[str]:
    """What this comparison can see: the minimum detectable change of the primary metric, in one sentence."""
    if c.minimum_detectable is None:
        if p.ci_low == p.ci_high == p.delta == 0:
            same = "the two models score the same on every resample of these rows: there is no change to size"
            return [f"**What this comparison can detect:** {same}.", ""]
        return []
    mde = _amount(p.name, c.minimum_detectable, max(p.decimals, 3))
    direction = "drop" if p.higher_is_better else "rise"
    lines = [
        f"**What this comparison can detect:** with {c.rows} rows it flags a {direction} of "
        f"≥ {mde} in `{p.name}` 4 times in 5 (at {c.confidence:.0%} confidence, margin {p.margin:g}).",
    ]
    if p.verdict == "not detectable at this data size":
        lines.append(
            f"The observed change (Δ {signed(p.delta, p.decimals)}) is inside an interval that reaches beyond the "
            "margin: **not detectable at this data size**, which is not the same as no change. More rows would "
            "tell (cross-validation uses train + test: `compare.cross_validation.max_rows`)."
        )
    return [*lines, ""]


def _metrics_table(r: ReportInput) -> list[str]:
    c = r.comparison
    how = "paired: both models on the same rows" if c.paired else "unpaired: each model on its own test set"
    return [
        "### Metrics",
        "",
        f"Compared on: {c.method}, {c.rows} rows ({how}); test split rows: baseline "
        f"{r.data.baseline.test_rows}, candidate {r.data.candidate.test_rows}. "
        f"Δ = candidate − baseline; {c.confidence:.0%} bootstrap CI of Δ over {c.valid_resamples} resamples. "
        "A change counts when the CI excludes 0 (detectable) **and** |Δ| exceeds the metric's margin. "
        "↑ higher is better, ↓ lower is better.",
        "",
        "| metric | baseline | candidate | Δ | CI of Δ | margin | verdict |",
        "|---|---:|---:|---:|---|---:|---|",
        *[_metric_row(m, c.primary_metric) for m in c.metrics],
        "",
        "| model | size (MB) | single-row latency (ms, median) |",
        "|---|---:|---:|",
        f"| baseline | {r.baseline.size_mb:.3f} | {r.baseline.latency_ms:.2f} |",
        f"| candidate | {r.candidate.size_mb:.3f} | {r.candidate.latency_ms:.2f} |",
        "",
    ]


def _gate_section(g: GateResult, base_ref: str, policy_changes: list[Change]) -> list[str]:
    lines = [f"### Gate rules (`compare:` of `{base_ref}`'s params.yaml)", ""]
    lines += [f"- ❌ {reason}" for reason in g.reasons]
    lines += [f"- ✅ {check}" for check in g.checks]
    lines.append("")
    if policy_changes:
        lines += [
            "**This pull request proposes a new gate policy.** It applies after merge; "
            f"this check used `{base_ref}`'s.",
            "",
            *_changes_table(policy_changes, "policy"),
        ]
    return lines


def _changes_table(changes: list[Change], what: str) -> list[str]:
    if not changes:
        return [f"No {what} changes.", ""]
    rows = [f"| `{_fmt(ch.key)}` | {_fmt(ch.baseline)} | {_fmt(ch.candidate)} |" for ch in changes]
    return ["| key | baseline | candidate |", "|---|---|---|", *rows, ""]


def _data_section(r: ReportInput) -> list[str]:
    d = r.data
    b, c = d.baseline, d.candidate

    def opt(v: object) -> str:
        return MISSING_CELL if v is None else f"`{v}`" if isinstance(v, str) else str(v)

    balance = sorted(b.label_balance.keys() | c.label_balance.keys())
    lines = [
        "### Data",
        "",
        "| | baseline | candidate |",
        "|---|---|---|",
        f"| rows (raw) | {opt(b.raw_rows)} | {opt(c.raw_rows)} |",
        f"| train rows | {opt(b.train_rows)} | {opt(c.train_rows)} |",
        f"| test rows | {b.test_rows} | {c.test_rows} |",
        f"| data hash (md5 of data/raw) | {opt(b.raw_md5)} | {opt(c.raw_md5)} |",
        f"| test split hash | `{b.test_md5}` | `{c.test_md5}` |",
        *[f"| label `{k}` | {opt(b.label_balance.get(k))} | {opt(c.label_balance.get(k))} |" for k in balance],
        "",
        "Same test rows: " + ("yes (paired comparison)." if d.same_test_rows else "**no** (unpaired comparison)."),
        "",
        "**Schema changes** (data/schema.yaml):",
        "",
        *_changes_table(d.schema_changes, "schema"),
    ]
    return lines


MISSING_CELL = "n/a"


def _confusion_table(name: str, conf: Confusion | None) -> list[str]:
    if conf is None:
        return []
    head = "| actual \\ predicted | " + " | ".join(f"`{lbl}`" for lbl in conf.labels) + " |"
    sep = "|---|" + "---:|" * len(conf.labels)
    pairs = zip(conf.labels, conf.matrix, strict=True)
    rows = [f"| `{lbl}` | " + " | ".join(str(v) for v in row) + " |" for lbl, row in pairs]
    return [f"Confusion matrix, {name}:", "", head, sep, *rows, ""]


def _plots_section(r: ReportInput) -> list[str]:
    lines = ["### Plots", ""]
    lines += [f"![{img.alt}]({img.file})" for img in r.images]
    lines.append("")
    lines += _confusion_table("baseline", r.baseline.confusion)
    lines += _confusion_table("candidate", r.candidate.confusion)
    return lines


def _provenance(r: ReportInput) -> list[str]:
    lines = [
        "### Provenance",
        "",
        f"- Baseline: `{r.base_ref}` at `{r.baseline.sha}` — {r.baseline_source}",
        f"- Candidate: `{r.candidate.sha}`",
    ]
    for name, facts in (("baseline", r.baseline), ("candidate", r.candidate)):
        if facts.mlflow_url:
            lines.append(f"- MLflow run ({name}): {facts.mlflow_url}")
    lines += [f"- {note}" for note in r.notes]
    return [*lines, ""]


def render_pipeline_failure(base_ref: str, candidate_sha: str, validation_md: str | None, log_tail: str) -> str:
    """The report when the candidate's pipeline failed (e.g. its data does not pass validation)."""
    lines = [
        "## Model comparison: candidate vs `" + base_ref + "` — ❌ blocked: the candidate's pipeline failed",
        "",
        "❌ **Gate failed** — the candidate's pipeline (`dvc repro`) failed, so there is no model to compare.",
        "",
        "### Data validation (candidate)",
        "",
        (validation_md or "No validation report found (reports/validation.md).").strip(),
        "",
        "### End of the pipeline log",
        "",
        "```text",
        log_tail.strip().replace("```", "` ` `"),
        "```",
        "",
        "### Provenance",
        "",
        f"- Candidate: `{candidate_sha}`",
        "",
        "<sub>Reproduce locally: `make pr-report BASE=" + base_ref + "`.</sub>",
        "",
    ]
    return "\n".join(lines)


def _params_and_validation(
    params_changes: list[Change], validation_md: str | None, between: Sequence[str] = ()
) -> list[str]:
    """The params diff, then ``between`` (the data section of a comparable report), then the validation report."""
    return [
        "### Params changed (params.yaml)",
        "",
        *_changes_table(params_changes, "params"),
        *between,
        "### Data validation (candidate)",
        "",
        (validation_md or "No validation report found (reports/validation.md).").strip(),
        "",
    ]


def render(r: ReportInput) -> str:
    lines = [
        *_headline(r),
        *_metrics_table(r),
        *_gate_section(r.comparison.gate, r.base_ref, r.policy_changes),
        *_params_and_validation(r.params_changes, r.validation_md, _data_section(r)),
        *_plots_section(r),
        *_provenance(r),
        "<sub>Generated by `make pr-report` (mlops_template.experiment). "
        "Reproduce locally: `make pr-report BASE=" + r.base_ref + "`.</sub>",
        "",
    ]
    return "\n".join(lines)


def render_not_comparable(r: NotComparableInput) -> str:
    """The report of a pull request that changes the task, target or data source (e.g. adopting a team's
    data while the base still holds the demo): the candidate's metrics, and the absolute limits only."""
    c = r.comparison
    why = ", ".join(f"`{ch.key}` {_fmt(ch.baseline)} → {_fmt(ch.candidate)}" for ch in r.why)
    gate = "✅ **Gate passed**" if c.gate.passed else "❌ **Gate failed**"
    metrics = sorted(c.candidate_metrics.items())
    lines = [
        action_line(r.base_ref, c),
        "",
        f"{gate} — {VERDICT_ICON['not comparable']} **not comparable**: this pull request changes {why}, so the "
        f"candidate and `{r.base_ref}`'s model answer different questions and no delta is computed. "
        "The gate applies only the absolute limits of `compare:` (floors, size, latency).",
        "",
        *(["**Why the gate failed:**", *[f"- {reason}" for reason in c.gate.reasons], ""] if c.gate.reasons else []),
        f"### Candidate metrics (test split, {r.test_rows} rows)",
        "",
        "| metric | candidate |",
        "|---|---:|",
        *[f"| {'**' + k + '** (primary)' if k == c.primary_metric else k} | {num(v, 4)} |" for k, v in metrics],
        "",
        "| model | size (MB) | single-row latency (ms, median) |",
        "|---|---:|---:|",
        f"| candidate | {r.candidate.size_mb:.3f} | {r.candidate.latency_ms:.2f} |",
        "",
        *_gate_section(c.gate, r.base_ref, r.policy_changes),
        *_params_and_validation(r.params_changes, r.validation_md),
        *_confusion_table("candidate", r.candidate.confusion),
        "### Provenance",
        "",
        f"- Base: `{r.base_ref}` at `{r.base_sha}` (its model was not needed)",
        f"- Candidate: `{r.candidate.sha}`",
        *([f"- MLflow run (candidate): {r.candidate.mlflow_url}"] if r.candidate.mlflow_url else []),
        *[f"- {note}" for note in r.notes],
        "",
        "<sub>Generated by `make pr-report` (mlops_template.experiment). "
        "Reproduce locally: `make pr-report BASE=" + r.base_ref + "`.</sub>",
        "",
    ]
    return "\n".join(lines)
