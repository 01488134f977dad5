"""Pull request = experiment: gather both sides, compare, write ``report.md``, images and ``comparison.json``.

:func:`build_report` is the whole experiment, three steps: :func:`~mlops_template.experiment.gather.gather`
reads the candidate's workspace (after ``dvc repro``) and the baseline bundle
(:mod:`~mlops_template.experiment.baseline`); :func:`compare` applies the base's policy
(:mod:`~mlops_template.experiment.compare`); :func:`write_report` draws the plots, renders the markdown
(:mod:`~mlops_template.experiment.report`) and writes one folder that the CI posts as a comment. Speed-ups
(``experiment/prefetch.py``) come in only as ``ahead``, which may be None.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from mlops_template.core import plots
from mlops_template.core.config import CompareParams, Params, TaskType, load_params
from mlops_template.core.metrics import Predictions
from mlops_template.experiment.baseline import progress
from mlops_template.experiment.compare import Comparison, candidate_only, compare_predictions
from mlops_template.experiment.comparison_record import ComparisonRecord
from mlops_template.experiment.diffs import Change
from mlops_template.experiment.gather import (
    Gathered,
    HeadStart,
    ScorerFactory,
    Side,
    candidate_params_changes,
    candidate_sha,
    candidate_side,
    dataframe_scorer,
    gather,
    validation_md,
)
from mlops_template.experiment.policy import (
    BasePolicy,
    incomparable_changes,
    proposed_policy_changes,
    read_base_policy,
)
from mlops_template.experiment.report import (
    Confusion,
    Image,
    ModelFacts,
    NotComparableInput,
    ReportInput,
    render,
    render_not_comparable,
    render_pipeline_failure,
)
from mlops_template.experiment.repro import GuardedRepro

DEFAULT_OUT = Path("reports/pr")


def build_report(
    base_ref: str,
    out_dir: Path = DEFAULT_OUT,
    rebuild: bool = True,
    ahead: HeadStart | None = None,
    scorer: ScorerFactory = dataframe_scorer,
) -> Comparison:
    """Compare the workspace's model with ``base_ref``'s; write report.md, PNGs and comparison.json.

    The gate's policy (``compare:``) is the base branch's; the candidate's changes to it are a proposal.
    ``ahead``: work done earlier (``experiment/prefetch.py``), or None; the result is the same either way.
    """
    params = load_params()
    policy = read_base_policy(base_ref)
    _fresh(out_dir)
    incomparable = incomparable_changes(policy, params)
    if incomparable:
        return _not_comparable_report(base_ref, policy, params, incomparable, out_dir, scorer)
    sides = gather(base_ref, policy, params, rebuild, scorer, ahead)
    comparison = compare(params.task, sides, policy.compare)
    write_report(out_dir, base_ref, params.task, sides, comparison)
    return comparison


def compare(task: TaskType, g: Gathered, c: CompareParams) -> Comparison:
    """The verdict and the gate under the base's policy ``c``: on the out-of-fold predictions of repeated
    cross-validation when there are any, else on the test split (paired when both have the same rows)."""
    base: Predictions | list[Predictions] = g.base.pred
    cand: Predictions | list[Predictions] = g.cand.pred
    paired, method = g.paired, "test split" + ("" if g.paired else " (each model on its own)")
    if g.cv is not None:
        base, cand, paired, method = g.cv.baseline, g.cv.candidate, True, g.cv.method
        progress(f"bootstrap ({c.bootstrap_resamples} resamples, paired, {method})")
    else:
        progress(f"bootstrap ({c.bootstrap_resamples} resamples, {'paired' if paired else 'unpaired'})")
    return compare_predictions(task, base, cand, c, paired, g.seed, g.cand.size_mb, g.cand.latency_ms, method=method)


def write_report(out_dir: Path, base_ref: str, task: TaskType, g: Gathered, comparison: Comparison) -> None:
    """Plots, ``report.md`` and ``comparison.json`` in ``out_dir``."""
    progress(f"plots and report -> {out_dir}")
    report = ReportInput(
        base_ref=base_ref,
        baseline=_facts(g.base),
        candidate=_facts(g.cand),
        baseline_source=g.baseline.source,
        comparison=comparison,
        params_changes=g.params_changes,
        data=g.data,
        validation_md=g.validation_md,
        images=_images(task, g.base.pred, g.cand.pred, out_dir, base_ref),
        notes=g.notes,
        policy_changes=g.policy_changes,
    )
    _write(out_dir, render(report), base_ref, g.baseline.sha, g.cand.sha, g.baseline.source, comparison)


def _fresh(out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)


def confusion_of(p: Predictions) -> Confusion | None:
    if p.proba is None:
        return None
    labels = p.classes if p.classes is not None else np.unique(p.y_true)
    cm = skm.confusion_matrix(p.y_true, p.y_pred, labels=labels)
    return Confusion([str(x) for x in labels], cm.tolist())


def _facts(side: Side) -> ModelFacts:
    return ModelFacts(side.sha, side.size_mb, side.latency_ms, confusion_of(side.pred), side.mlflow_url)


def _images(task: str, base: Predictions, cand: Predictions, out: Path, base_ref: str) -> list[Image]:
    runs = {f"baseline ({base_ref})": base, "candidate": cand}
    images: list[Image] = []
    if task == "binary":
        plots.roc_png(runs, out / "roc.png")
        plots.pr_png(runs, out / "pr.png")
        images += [
            Image("roc.png", "ROC curves of baseline and candidate (AUC values in the metrics table)"),
            Image("pr.png", "Precision-recall curves of baseline and candidate (pr_auc in the metrics table)"),
        ]
    if task == "regression":
        plots.residuals_png(runs, out / "residuals.png")
        images.append(Image("residuals.png", "Residuals of baseline and candidate (rmse/mae in the metrics table)"))
    else:
        plots.confusion_png(base, out / "confusion_baseline.png", title=f"Baseline ({base_ref})")
        plots.confusion_png(cand, out / "confusion_candidate.png", title="Candidate")
        images += [
            Image("confusion_baseline.png", "Confusion matrix of the baseline (same numbers in the table below)"),
            Image("confusion_candidate.png", "Confusion matrix of the candidate (same numbers in the table below)"),
        ]
    return images


def _write(
    out_dir: Path, text: str, base_ref: str, base_sha: str, cand_sha: str, source: str, comparison: Comparison
) -> None:
    (out_dir / "report.md").write_text(text, encoding="utf-8")
    record = ComparisonRecord.of(
        comparison, base_ref=base_ref, base_sha=base_sha, candidate_sha=cand_sha, baseline_source=source
    )
    record.write_to(out_dir)


def _not_comparable_report(
    base_ref: str,
    policy: BasePolicy,
    params: Params,
    incomparable: list[Change],
    out_dir: Path,
    scorer: ScorerFactory,
) -> Comparison:
    """Task, target or data source changed: the candidate's own metrics, and the base's absolute limits."""
    progress("the pull request changes " + ", ".join(ch.key for ch in incomparable) + ": scoring the candidate only")
    c = policy.compare
    notes: list[str] = list(policy.notes)
    cand, test_rows = candidate_side(params, c.latency_repeats, scorer, notes)
    comparison = candidate_only(params.task, cand.pred, c, cand.size_mb, cand.latency_ms)
    text = render_not_comparable(
        NotComparableInput(
            base_ref=base_ref,
            base_sha=policy.sha,
            candidate=_facts(cand),
            comparison=comparison,
            why=incomparable,
            params_changes=candidate_params_changes(policy),
            policy_changes=proposed_policy_changes(policy, params),
            test_rows=test_rows,
            validation_md=validation_md(),
            notes=notes,
        )
    )
    _write(out_dir, text, base_ref, policy.sha, cand.sha, "not needed (models not comparable)", comparison)
    return comparison


def pipeline_finished(run: GuardedRepro, base_ref: str, out_dir: Path) -> bool:
    """Wait for the candidate's ``dvc repro`` (``repro.start_candidate_pipeline``) and copy its output to
    stderr. On failure write a report that says so, and a comparison.json whose gate fails. Return whether the
    pipeline succeeded."""
    code = run.wait()
    sys.stderr.write(run.output)
    if code == 0:
        progress("the candidate's pipeline finished")
        return True
    _fresh(out_dir)
    validation = validation_md()
    notes: list[str] = []
    sha = candidate_sha(notes)
    tail = "\n".join(run.output.splitlines()[-40:])
    (out_dir / "report.md").write_text(render_pipeline_failure(base_ref, sha, validation, tail), encoding="utf-8")
    ComparisonRecord.pipeline_failed(base_ref, sha).write_to(out_dir)
    progress(f"the candidate's pipeline failed; wrote {out_dir / 'report.md'}")
    return False


def gate_from_file(path: Path) -> tuple[bool, list[str]]:
    """Read comparison.json written by :func:`build_report`; return (passed, reasons or checks). HandOffError
    (naming the file and field) when it is missing or not a comparison record."""
    record = ComparisonRecord.read(path)
    return record.passed, record.gate_lines
