"""Shadow challenger vs champion on live traffic (pure logic): agreement, score differences and, on the rows
whose ground truth came back, the paired metric difference with the PR comparison's statistics.

The service answers with the champion and scores the challenger in shadow; both are logged under the same
``request_id`` and record ``id`` (``ops/serving/predlog.py``; lines without ``role`` are champion lines). Lines are
paired by ``(request_id, id)``; a champion line without its challenger (the shadow queue was full) or a
challenger line without its champion is counted, never fatal.

On labelled pairs (labels joined by ``data.id_column``) the two models are compared exactly as a pull request
compares candidate and baseline (:func:`~mlops_template.experiment.compare.compare_predictions`, paired
bootstrap, the primary metric, the margins of ``compare:``), with the challenger as the candidate. Verdicts:

- ``better``: the PR comparison says ``improved`` (detectable, beyond the margin);
- ``worse``: it says ``regressed``;
- ``not worse``: otherwise, when the worse end of the interval stays within the margin (non-inferiority);
- ``inconclusive``: the interval reaches beyond the margin on the worse side: more labels are needed;
- ``insufficient labels``: fewer labelled pairs than ``min_labels``, or one class only;
- ``not comparable``: the log cannot give the primary metric (multiclass log_loss / roc_auc_ovr need every
  class's probability; the log keeps the top one).

Only ``better`` and ``not worse`` allow ``make promote-challenger``: promotion asks for more than the PR gate
(which blocks only a detected regression), because it changes what serves everyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from mlops_template.core.config import Params, TaskType
from mlops_template.core.metric_catalogue import CATALOGUE
from mlops_template.core.metrics import Predictions
from mlops_template.experiment.compare import compare_predictions, describe
from mlops_template.ops.monitoring.window import LogLines, judge_lines

ShadowVerdict = Literal["better", "not worse", "worse", "inconclusive", "insufficient labels", "not comparable"]
PROMOTABLE: frozenset[str] = frozenset({"better", "not worse"})
ROLES = ("champion", "challenger")


class ShadowComparison(BaseModel):
    """The summary.json ``shadow`` block: what ``make promote-challenger`` reads (the one typed hand-off)."""

    model_config = ConfigDict(extra="forbid")

    verdict: ShadowVerdict
    promote: bool  # the challenger may replace the champion
    message: str
    champion_version: str | None = None
    challenger_version: str | None = None
    champion_lines: int = 0
    challenger_lines: int = 0
    pairs: int = 0
    unpaired_champion: int = 0  # champion lines without a challenger line (shadow queue full, challenger detached)
    unpaired_challenger: int = 0  # challenger lines without their champion line
    duplicates: int = 0  # repeated (role, request_id, id): the first is kept
    unreadable: int = 0  # lines that are not log entries (no request_id/id/score, unknown role)
    agreement: float | None = None  # share of pairs with the same label
    score_diff_mean: float | None = None  # mean of challenger score - champion score
    score_diff_p95_abs: float | None = None  # 95th percentile of |challenger score - champion score|
    labelled: int = 0  # pairs with ground truth
    label_duplicates: int = 0  # ids labelled more than once: the latest label counts
    min_labels: int = 0
    metric: str | None = None
    higher_is_better: bool | None = None
    champion_metric: float | None = None
    challenger_metric: float | None = None
    delta: float | None = None  # challenger - champion
    ci_low: float | None = None
    ci_high: float | None = None
    margin: float | None = None
    confidence: float | None = None
    resamples: int | None = None
    comparison_verdict: str | None = None  # the PR comparison's own word (improved, regressed, ...)


@dataclass
class Pairs:
    champion: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    challenger: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    unreadable: int = 0

    def paired(self) -> list[tuple[str, str]]:
        return [k for k in self.champion if k in self.challenger]


def id_key(value: Any) -> str:
    """An id as a join key: 7, 7.0 and "7" are the same record (CSV and JSON disagree about numbers)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def pair_lines(entries: Iterable[Any]) -> Pairs:
    """Champion and challenger entries by (request_id, id); unreadable entries and duplicates are counted."""
    out = Pairs()
    for e in entries:
        role = e.get("role") if isinstance(e, dict) else "?"
        role = "champion" if role is None or role != role else role  # no role (older logs, NaN in a frame)
        score = e.get("score") if isinstance(e, dict) else None
        if (
            role not in ROLES
            or e.get("request_id") is None
            or e.get("id") is None
            or isinstance(score, bool)
            or not isinstance(score, (int, float))
        ):
            out.unreadable += 1
            continue
        side = out.champion if role == "champion" else out.challenger
        key = (str(e["request_id"]), id_key(e["id"]))
        if key in side:
            out.duplicates += 1
        else:
            side[key] = e
    return out


def log_entries(log: LogLines) -> tuple[list[Any], int]:
    """Every JSON line of the prediction log (read once by the monitor, ops/monitoring/window.py) and the number of
    lines that are not JSON."""
    entries: list[Any] = []
    bad = 0
    for name, parsed in log.files:
        found, unreadable, _ = judge_lines(parsed, name, lambda _value: "")
        entries += found
        bad += unreadable
    return entries, bad


def truth_by_id(labels: pd.DataFrame | None, id_column: str, target: str) -> tuple[dict[str, Any], int]:
    """id -> true label (the latest when an id has several, by ``ts`` when present) and the duplicate count.

    ``labels``: columns ``id_column`` and ``target`` (the labels format), or ``id`` and ``y`` (the frame of the
    monitor's labels reader, ops/monitoring/labels.py)."""
    if labels is not None and target not in labels and {"id", "y"} <= set(labels.columns):
        id_column, target = "id", "y"
    if labels is None or labels.empty or id_column not in labels or target not in labels:
        return {}, 0
    frame = labels.dropna(subset=[id_column, target])
    if "ts" in frame:
        frame = frame.sort_values("ts", kind="stable")
    truth: dict[str, Any] = {}
    for ident, value in zip(frame[id_column].tolist(), frame[target].tolist(), strict=True):
        truth[id_key(ident)] = value.item() if hasattr(value, "item") else value
    return truth, len(frame) - len(truth)


def _same_kind(values: Sequence[Any]) -> list[Any]:
    """Labels from JSON, CSV and Parquet as one comparable kind: integral floats as ints; a mix as strings."""
    out = [int(v) if isinstance(v, float) and v.is_integer() else v for v in values]
    kinds = {type(v) for v in out} - {bool}
    if len(kinds) > 1 and not kinds <= {int, float}:
        out = [str(v) for v in out]
    return out


def predictions(task: TaskType, truth: list[Any], lines: list[dict[str, Any]], classes: np.ndarray) -> Predictions:
    """One model's logged answers on the labelled rows, as the evaluation code's Predictions."""
    ids = np.arange(len(truth))
    scores = np.array([float(e["score"]) for e in lines])
    if task == "regression":
        return Predictions(ids, np.array(truth, dtype=float), scores, None, None)
    y_pred = np.array(_same_kind([e["label"] for e in lines]) if lines else [], dtype=classes.dtype)
    if task == "binary":
        proba = np.column_stack([1.0 - scores, scores])
    else:  # the log keeps the top class's probability; the others share the rest (label-based metrics only)
        k = len(classes)
        proba = np.tile(((1.0 - scores) / max(k - 1, 1))[:, None], (1, k))
        proba[np.arange(len(lines)), np.searchsorted(classes, y_pred)] = scores
    return Predictions(ids, np.array(truth, dtype=classes.dtype), y_pred, proba, classes)


def score_stats(pairs: Pairs) -> dict[str, Any]:
    keys = pairs.paired()
    if not keys:
        return {}
    champ = [pairs.champion[k] for k in keys]
    chall = [pairs.challenger[k] for k in keys]
    same = np.mean([a.get("label") == b.get("label") for a, b in zip(champ, chall, strict=True)])
    diff = np.array([float(b["score"]) - float(a["score"]) for a, b in zip(champ, chall, strict=True)])
    return {
        "agreement": round(float(same), 6),
        "score_diff_mean": round(float(diff.mean()), 8),
        "score_diff_p95_abs": round(float(np.quantile(np.abs(diff), 0.95)), 8),
    }


def _version(lines: Iterable[dict[str, Any]]) -> str | None:
    counts: dict[str, int] = {}
    for e in lines:
        v = str(e.get("model_version", "?"))
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda v: counts[v]) if counts else None


def counts_of(pairs: Pairs) -> dict[str, Any]:
    n = len(pairs.paired())
    return {
        "champion_version": _version(pairs.champion.values()),
        "challenger_version": _version(pairs.challenger.values()),
        "champion_lines": len(pairs.champion),
        "challenger_lines": len(pairs.challenger),
        "pairs": n,
        "unpaired_champion": len(pairs.champion) - n,
        "unpaired_challenger": len(pairs.challenger) - n,
        "duplicates": pairs.duplicates,
        "unreadable": pairs.unreadable,
    }


def verdict_from(metric_verdict: str, worst_gain: float, margin: float) -> ShadowVerdict:
    """The shadow verdict from the PR comparison's verdict and the worse end of the interval (as a gain)."""
    if metric_verdict == "regressed":
        return "worse"
    if metric_verdict == "improved":
        return "better"
    return "not worse" if worst_gain >= -margin else "inconclusive"


def labelled_comparison(pairs: Pairs, truth: Mapping[str, Any], params: Params, min_labels: int) -> dict[str, Any]:
    """The paired bootstrap comparison on labelled pairs (challenger = candidate), as ShadowComparison fields."""
    keys = [k for k in pairs.paired() if k[1] in truth]
    task, cmp = params.task, params.compare
    base: dict[str, Any] = {"labelled": len(keys), "min_labels": min_labels, "confidence": cmp.confidence}
    y = _same_kind([truth[k[1]] for k in keys])
    if len(keys) < min_labels or (task != "regression" and len(set(y)) < 2):
        why = f"{len(keys)} labelled pairs" + (
            f", fewer than {min_labels}" if len(keys) < min_labels else f", one class only ({y[0]!r})" if y else ""
        )
        return base | {"verdict": "insufficient labels", "message": f"No verdict: {why}."}
    champ = [pairs.champion[k] for k in keys]
    chall = [pairs.challenger[k] for k in keys]
    classes = (
        np.array([])
        if task == "regression"
        else np.unique(np.array(y + _same_kind([e["label"] for e in champ + chall])))
    )
    if task == "binary" and len(classes) != 2:
        return base | {
            "verdict": "not comparable",
            "message": f"a binary task, but the labels hold {len(classes)} classes",
        }
    try:
        result = compare_predictions(
            task,
            predictions(task, y, champ, classes),
            predictions(task, y, chall, classes),
            cmp,
            paired=True,
            seed=params.seed,
            method="live labelled traffic",
            primary_only=True,
        )
    except ValueError as err:  # too few resamples could be scored (e.g. one class in most of them)
        return base | {"verdict": "insufficient labels", "message": f"No verdict on {len(keys)} labelled pairs: {err}."}
    if task == "multiclass" and CATALOGUE[result.primary_metric].probabilities:  # the log keeps the top one
        return base | {
            "verdict": "not comparable",
            "message": f"{result.primary_metric} needs every class's probability; the prediction log keeps the "
            "top one: set compare.primary_metric to a label-based metric (f1_macro, accuracy)",
        }
    m = result.metric(result.primary_metric)
    worst_gain = m.ci_low if m.higher_is_better else -m.ci_high
    verdict = verdict_from(m.verdict, worst_gain, m.margin)
    return base | {
        "verdict": verdict,
        "message": f"challenger {verdict}: {describe(m, cmp.confidence)} over {len(keys)} labelled pairs",
        "metric": m.name,
        "higher_is_better": m.higher_is_better,
        "champion_metric": m.baseline,
        "challenger_metric": m.candidate,
        "delta": m.delta,
        "ci_low": m.ci_low,
        "ci_high": m.ci_high,
        "margin": m.margin,
        "resamples": result.valid_resamples,
        "comparison_verdict": m.verdict,
    }


def shadow_block(
    log_frame_or_lines: pd.DataFrame | Iterable[Any],
    labels: pd.DataFrame | None,
    params: Params,
    min_labels: int | None = None,
    unreadable: int = 0,
) -> ShadowComparison | None:
    """The monitor's ``shadow`` block, or None when the log holds no challenger line (no shadow deployed).

    ``min_labels``: the fewest labelled pairs for a verdict (default ``monitor.min_labelled_rows``);
    ``unreadable``: lines the caller could not parse (added to the count).
    """
    entries = (
        log_frame_or_lines.to_dict("records") if isinstance(log_frame_or_lines, pd.DataFrame) else log_frame_or_lines
    )
    pairs = pair_lines(entries)
    pairs.unreadable += unreadable
    if not pairs.challenger:
        return None
    truth, label_duplicates = truth_by_id(labels, params.data.id_column, params.data.target)
    need = params.monitor.min_labelled_rows if min_labels is None else min_labels
    fields = counts_of(pairs) | score_stats(pairs) | labelled_comparison(pairs, truth, params, need)
    fields["label_duplicates"] = label_duplicates
    fields["promote"] = fields["verdict"] in PROMOTABLE
    return ShadowComparison.model_validate(fields)


def shadow_from_log(log: LogLines, labels: pd.DataFrame | None, params: Params) -> ShadowComparison | None:
    """The ``shadow`` block from the prediction log's lines and (optionally) the labels frame (both read once by
    the monitor: ops/monitoring/window.py ``read_log_lines``, ops/monitoring/labels.py); None without a challenger."""
    entries, unreadable = log_entries(log)
    return shadow_block(entries, labels, params, unreadable=unreadable)


def markdown(block: ShadowComparison | None) -> str:
    """The monitor report's shadow section (empty without a challenger)."""
    if block is None:
        return ""
    lines = [
        "### Shadow challenger",
        "",
        f"**{block.verdict}**: {block.message}.",
        "",
        f"- models: champion `{block.champion_version}`, challenger `{block.challenger_version}`",
        f"- records scored by both: {block.pairs} (champion only: {block.unpaired_champion}, e.g. the shadow queue "
        f"was full; challenger only: {block.unpaired_challenger}; duplicates: {block.duplicates}; "
        f"unreadable lines: {block.unreadable})",
    ]
    if block.agreement is not None:
        lines.append(
            f"- same label: {block.agreement:.1%}; score difference (challenger - champion): mean "
            f"{block.score_diff_mean:+.4f}, 95th percentile of |difference| {block.score_diff_p95_abs:.4f}"
        )
    lines.append(
        f"- labelled pairs: {block.labelled} (a verdict needs {block.min_labels}; ids labelled twice: "
        f"{block.label_duplicates})"
    )
    if block.metric is not None:
        lines.append(
            f"- {block.metric}: paired bootstrap on the labelled pairs, {block.confidence:.0%} interval, the pull "
            f"request comparison's statistics ({block.comparison_verdict})"
        )
    lines += [
        "- `make promote-challenger`: "
        + ("would promote the challenger" if block.promote else "refuses (the challenger is not shown not worse)"),
        "",
    ]
    return "\n".join(lines)


def section_parts(block: ShadowComparison | None) -> tuple[dict[str, Any] | None, str]:
    """(summary.json ``shadow`` value, report markdown): what the monitor's report adds for the shadow challenger."""
    return (None if block is None else block.model_dump(mode="json")), markdown(block)
