"""Pull request = experiment: gather both sides, compare, write ``report.md``, images and ``comparison.json``.

The I/O edge of the comparison: reads the candidate's workspace (after ``dvc repro``) and the baseline
bundle from :mod:`~mlops_template.experiment.baseline`, calls the pure logic in ``compare``, ``diffs`` and
``report``, and writes one folder that the CI posts as a comment.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from mlops_template.core import paths, plots
from mlops_template.core.config import CrossValidationParams, Params, load_params
from mlops_template.core.data.schema import SchemaSpec, coerce, load_spec
from mlops_template.core.lineage import file_md5, git, git_show
from mlops_template.core.metrics import Predictions, predict
from mlops_template.core.model_card import TrainingRun, load_card, load_training_run
from mlops_template.core.model_io import load_model
from mlops_template.experiment.baseline import (
    Baseline,
    BaselineError,
    CrossValidationUnsupported,
    base_oof,
    get_baseline,
    oof_file,
    progress,
    runs_the_base_code,
)
from mlops_template.experiment.compare import Comparison, candidate_only, compare_predictions
from mlops_template.experiment.comparison_record import ComparisonRecord
from mlops_template.experiment.crossval import cv_applies, load_oof, oof_predictions, sort_rows, write_oof
from mlops_template.experiment.diffs import (
    Change,
    DataDiff,
    DataSide,
    label_balance,
    params_diff,
    same_rows,
    schema_diff,
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


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return data if isinstance(data, dict) else {}


ScorerFactory = Callable[[Pipeline, pd.DataFrame, SchemaSpec | None], Callable[[], object]]


def dataframe_scorer(model: Pipeline, row: pd.DataFrame, spec: SchemaSpec | None) -> Callable[[], object]:
    """One prediction through the scikit-learn pipeline on a one-row DataFrame (the simplest serving path)."""
    del spec  # the DataFrame carries its own dtypes
    score = getattr(model, "predict_proba", model.predict)
    return lambda: score(row)


def single_row_latency_ms(
    model: Pipeline,
    frame: pd.DataFrame,
    target: str,
    id_column: str,
    repeats: int,
    spec: SchemaSpec | None = None,
    scorer: ScorerFactory = dataframe_scorer,
) -> float:
    """Median wall time of one prediction on one row (after one warm-up call), on the path ``scorer`` builds:
    ``make pr-report`` passes the service's own (``ops.serving.predictor.serving_scorer``: ONNX Runtime /
    numpy), so the report shows what serving costs; the experiment itself never imports ``ops``."""
    row = frame.drop(columns=[target, id_column], errors="ignore").iloc[[0]]
    fn = scorer(model, row, spec)
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return round(statistics.median(times), 3)


def mlflow_url(run: TrainingRun | None) -> str | None:
    """A clickable run link when the candidate's run was logged to a tracking server (http/https)."""
    if run is None or not run.tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{run.tracking_uri.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"


def confusion_of(p: Predictions) -> Confusion | None:
    if p.proba is None:
        return None
    labels = p.classes if p.classes is not None else np.unique(p.y_true)
    cm = skm.confusion_matrix(p.y_true, p.y_pred, labels=labels)
    return Confusion([str(x) for x in labels], cm.tolist())


def _data_side(raw: Path, test: pd.DataFrame, test_path: Path, train_rows: int | None, p: Params) -> DataSide:
    classification = p.task != "regression"
    raw_frame = pd.read_parquet(raw) if raw.exists() else None
    labels = raw_frame[p.data.target] if raw_frame is not None else test[p.data.target]
    return DataSide(
        raw_rows=None if raw_frame is None else len(raw_frame),
        train_rows=train_rows,
        test_rows=len(test),
        raw_md5=file_md5(raw) if raw.exists() else None,
        test_md5=file_md5(test_path),
        label_balance=label_balance(labels, classification),
    )


def _schema(raw: dict[str, Any], origin: str, notes: list[str]) -> SchemaSpec | None:
    try:
        return SchemaSpec.model_validate(raw)
    except Exception as err:
        notes.append(f"could not read the {origin} schema: {type(err).__name__}")
        return None


def _base_params(policy: BasePolicy, candidate: Params, notes: list[str]) -> Params:
    """The base's params for scoring its model (threshold, columns); the candidate's if they do not load."""
    if policy.params is not None:
        return policy.params
    notes.append(
        "the base params.yaml does not load with the candidate's code: "
        "the base model is scored with the candidate's evaluate/data settings"
    )
    return candidate


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


def cv_frame(raw: Path, spec: SchemaSpec, id_column: str) -> pd.DataFrame:
    """The rows both models are cross-validated on: the extracted data cast to the schema's dtypes (what the
    split stage divides into train and test), in id order."""
    return sort_rows(coerce(pd.read_parquet(raw), spec), id_column)


def _cross_validated(
    baseline: Baseline,
    params: Params,
    policy: BasePolicy,
    out_dir: Path,
    notes: list[str],
    ahead: Ahead | None = None,
) -> tuple[list[Predictions], list[Predictions], str] | None:
    """Out-of-fold predictions of both models on the same folds, or None (with a note) when not applicable."""
    cv = policy.compare.cross_validation
    d = params.data
    if not paths.RAW_DATA.exists():
        return None
    spec = load_spec(d.schema_path)
    frame = cv_frame(paths.RAW_DATA, spec, d.id_column)
    if not cv_applies(len(frame), cv):
        if cv.max_rows:
            notes.append(
                f"{len(frame)} rows > compare.cross_validation.max_rows ({cv.max_rows}): compared on the test split"
            )
        return None
    if not baseline.has("raw.parquet") or file_md5(baseline.path("raw.parquet")) != file_md5(paths.RAW_DATA):
        notes.append("the data changed, so the models are compared on their test splits, not cross-validated")
        return None
    seed = policy.params.seed if policy.params is not None else params.seed
    data_file = out_dir / "cv-data.parquet"
    frame.to_parquet(data_file, index=False)
    # the candidate's runs from while the pipeline ran, when they were made on these rows, folds and seed
    done = None
    if ahead is not None and ahead.cv_key is not None and ahead.cv_key == _cv_key(data_file, cv, seed):
        done = ahead.cand_runs
    try:
        progress(f"cross-validating the baseline with {policy.ref}'s code ({cv.folds} folds x {cv.repeats})")
        try:
            base_file = base_oof(baseline, data_file, cv.folds, cv.repeats, seed)
        except CrossValidationUnsupported as err:
            notes.append(
                f"{err} (it predates repeated cross-validation): compared on the test split instead; "
                "the next pull request after this template update is merged gets the cross-validated comparison"
            )
            return None
        except BaselineError as err:
            notes.append(f"cross-validating the baseline failed, compared on the test split instead: {err}")
            return None
        cand_runs = done
        if cand_runs is None:
            progress(f"cross-validating the candidate ({cv.folds} folds x {cv.repeats})")
            cand_runs = oof_predictions(params, spec, frame, cv.folds, cv.repeats, seed)
    finally:
        data_file.unlink(missing_ok=True)
    base_runs = load_oof(base_file)
    if len(base_runs[0].ids) != len(frame) or not np.array_equal(
        base_runs[0].ids.astype(str), cand_runs[0].ids.astype(str)
    ):
        notes.append("the baseline's out-of-fold rows do not match the candidate's: compared on the test split")
        return None
    method = f"repeated cross-validation ({cv.folds} folds x {cv.repeats} repetitions, {len(frame)} rows)"
    return base_runs, cand_runs, method


def build_report(
    base_ref: str,
    out_dir: Path = DEFAULT_OUT,
    rebuild: bool = True,
    ahead: Ahead | None = None,
    scorer: ScorerFactory = dataframe_scorer,
) -> Comparison:
    """Compare the workspace's model with ``base_ref``'s; write report.md, PNGs and comparison.json.

    The gate's policy (``compare:``) is the base branch's; the candidate's changes to it are a proposal.
    ``ahead``: what was done for ``base_ref`` while the candidate's pipeline ran (:func:`work_ahead`).
    """
    params = load_params()
    d = params.data
    policy = read_base_policy(base_ref)
    notes: list[str] = list(policy.notes)
    proposal = proposed_policy_changes(policy, params)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    incomparable = incomparable_changes(policy, params)
    if incomparable:
        return _not_comparable_report(base_ref, policy, params, incomparable, proposal, out_dir, notes, scorer)

    baseline = ahead.baseline if ahead is not None else None
    if baseline is None or baseline.sha != policy.sha:
        baseline = get_baseline(base_ref, rebuild=rebuild)
    base_params = _base_params(policy, params, notes)
    bd = base_params.data
    c = policy.compare

    progress("scoring both models on the test split")
    cand_model, base_model = load_model(paths.MODEL), load_model(baseline.path("model.joblib"))
    cand_test = pd.read_parquet(paths.TEST_DATA)
    base_test = pd.read_parquet(baseline.path("test.parquet"))
    paired = same_rows(base_test, cand_test, d.id_column) and (bd.target, bd.id_column) == (d.target, d.id_column)
    cand_pred = predict(cand_model, cand_test, d.target, d.id_column, params.evaluate.threshold)
    base_rows = cand_test if paired else base_test
    base_pred = predict(base_model, base_rows, bd.target, bd.id_column, base_params.evaluate.threshold)

    cand_size = paths.MODEL.stat().st_size / 1e6
    base_size = baseline.path("model.joblib").stat().st_size / 1e6
    spec = load_spec(params.data.schema_path)  # the served path needs the schema (dtypes, probe rows)
    cand_latency = single_row_latency_ms(cand_model, cand_test, d.target, d.id_column, c.latency_repeats, spec, scorer)
    if ahead is not None and ahead.baseline is baseline and ahead.base_latency_ms is not None:
        base_latency = ahead.base_latency_ms  # timed while the pipeline ran (shown, not gated)
    else:
        base_latency = single_row_latency_ms(
            base_model, base_rows, bd.target, bd.id_column, c.latency_repeats, spec, scorer
        )

    cv = _cross_validated(baseline, params, policy, out_dir, notes, ahead) if paired else None
    seed = base_params.seed
    if cv is not None:
        base_runs, cand_runs, method = cv
        progress(f"bootstrap ({c.bootstrap_resamples} resamples, paired, {method})")
        comparison = compare_predictions(
            params.task, base_runs, cand_runs, c, True, seed, cand_size, cand_latency, method=method
        )
    else:
        method = "test split" + ("" if paired else " (each model on its own)")
        progress(f"bootstrap ({c.bootstrap_resamples} resamples, {'paired' if paired else 'unpaired'})")
        comparison = compare_predictions(
            params.task, base_pred, cand_pred, c, paired, seed, cand_size, cand_latency, method=method
        )

    progress(f"plots and report -> {out_dir}")
    images = _images(params.task, base_pred, cand_pred, out_dir, base_ref)

    cand_meta = load_card(paths.MODEL_METADATA)
    base_meta = load_card(baseline.path("metadata.json"))  # also reads the pre-card format of an older base
    data = DataDiff(
        baseline=_data_side(
            baseline.path("raw.parquet"),
            base_test,
            baseline.path("test.parquet"),
            base_meta.train_rows,
            base_params,
        ),
        candidate=_data_side(paths.RAW_DATA, cand_test, paths.TEST_DATA, cand_meta.train_rows, params),
        same_test_rows=paired,
        schema_changes=schema_diff(
            _schema(_yaml_at(baseline, bd.schema_path), "baseline", notes),
            _schema(_yaml(Path(d.schema_path)), "candidate", notes),
        ),
    )
    if baseline.lock_md5_matches is False:
        notes.append(
            "the rebuilt baseline model differs byte-wise from the one the base dvc.lock records "
            "(non-deterministic training or environment)"
        )
    validation = paths.VALIDATION_REPORT_MD.read_text(encoding="utf-8") if paths.VALIDATION_REPORT_MD.exists() else None
    report = ReportInput(
        base_ref=base_ref,
        baseline=ModelFacts(baseline.sha, base_size, base_latency, confusion_of(base_pred), None),
        candidate=ModelFacts(
            candidate_sha(notes), cand_size, cand_latency, confusion_of(cand_pred), mlflow_url(load_training_run())
        ),
        baseline_source=baseline.source,
        comparison=comparison,
        params_changes=params_diff(policy.raw, _yaml(Path("params.yaml"))),
        data=data,
        validation_md=validation,
        images=images,
        notes=notes,
        policy_changes=proposal,
    )
    _write(out_dir, render(report), base_ref, baseline.sha, report.candidate.sha, baseline.source, comparison)
    return comparison


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
    proposal: list[Change],
    out_dir: Path,
    notes: list[str],
    scorer: ScorerFactory,
) -> Comparison:
    """Task, target or data source changed: the candidate's own metrics, and the base's absolute limits."""
    d = params.data
    progress("the pull request changes " + ", ".join(ch.key for ch in incomparable) + ": scoring the candidate only")
    model = load_model(paths.MODEL)
    test = pd.read_parquet(paths.TEST_DATA)
    pred = predict(model, test, d.target, d.id_column, params.evaluate.threshold)
    c = policy.compare
    size = paths.MODEL.stat().st_size / 1e6
    spec = load_spec(params.data.schema_path)  # the served path needs the schema (dtypes, probe rows)
    latency = single_row_latency_ms(model, test, d.target, d.id_column, c.latency_repeats, spec, scorer)
    comparison = candidate_only(params.task, pred, c, size, latency)
    sha = candidate_sha(notes)
    validation = paths.VALIDATION_REPORT_MD.read_text(encoding="utf-8") if paths.VALIDATION_REPORT_MD.exists() else None
    text = render_not_comparable(
        NotComparableInput(
            base_ref=base_ref,
            base_sha=policy.sha,
            candidate=ModelFacts(sha, size, latency, confusion_of(pred), mlflow_url(load_training_run())),
            comparison=comparison,
            why=incomparable,
            params_changes=params_diff(policy.raw, _yaml(Path("params.yaml"))),
            policy_changes=proposal,
            test_rows=len(test),
            validation_md=validation,
            notes=notes,
        )
    )
    _write(out_dir, text, base_ref, policy.sha, sha, "not needed (models not comparable)", comparison)
    return comparison


# Files `dvc repro` rewrites: a difference there does not make the candidate's commit "dirty".
PIPELINE_OUTPUTS = ("dvc.lock", "models/", "metrics/", "plots/", "reports/")


def candidate_sha(notes: list[str]) -> str:
    """HEAD's SHA; a note lists tracked files that differ from it (other than pipeline outputs)."""
    sha = git("rev-parse", "HEAD").strip()
    status = git("status", "--porcelain", "--untracked-files=no").splitlines()
    changed = [line[3:] for line in status if not line[3:].startswith(PIPELINE_OUTPUTS)]
    if changed:
        notes.append(f"the candidate has uncommitted changes to {', '.join(changed)} (scored as they are)")
    return sha


def _yaml_at(baseline: Baseline, schema_path: str) -> dict[str, Any]:
    """The base commit's schema file (git), which may live at another path than the candidate's."""
    data = git_show(baseline.sha, Path(schema_path))
    loaded = yaml.safe_load(data) if data else None
    return loaded if isinstance(loaded, dict) else {}


@dataclass
class Ahead:
    """What ``pr-report --repro`` did while the candidate's pipeline ran (see :func:`work_ahead`)."""

    baseline: Baseline | None = None
    cv_key: tuple[str, int, int, int] | None = None  # md5 of the cross-validation data file, folds, repeats, seed
    cand_runs: list[Predictions] | None = None  # the candidate's out-of-fold predictions on that file
    base_latency_ms: float | None = None


def _cv_key(data_file: Path, cv: CrossValidationParams, seed: int) -> tuple[str, int, int, int]:
    return file_md5(data_file), cv.folds, cv.repeats, seed


def work_ahead(base_ref: str, scorer: ScorerFactory = dataframe_scorer) -> Ahead:
    """While the candidate's pipeline runs (it needs neither): fetch the baseline (from the DVC cache or remote,
    never rebuilt here), time its single-row latency, and cross-validate both models on the base's data, the
    baseline in a thread (a ``cv-predict`` process with the base's code), the candidate's config in this
    process. The comparison uses these cross-validation results only when the pipeline's data turns out
    byte-identical to the base's (same md5 of the cross-validation data file). Best effort: what did not
    happen here, :func:`build_report` does after the pipeline, with the same code."""
    ahead = Ahead()
    try:
        params = load_params()
        policy = read_base_policy(base_ref)
        if incomparable_changes(policy, params):
            return ahead
        ahead.baseline = baseline = get_baseline(base_ref, rebuild=False)
    except Exception as err:
        progress(f"baseline not fetched ahead ({type(err).__name__}); that happens after the pipeline")
        return ahead
    cv = policy.compare.cross_validation
    d, bd = params.data, (policy.params or params).data
    seed = policy.params.seed if policy.params is not None else params.seed
    failed: list[BaseException] = []
    thread = None
    try:
        spec = load_spec(d.schema_path)
        frame = cv_frame(baseline.path("raw.parquet"), spec, d.id_column) if baseline.has("raw.parquet") else None
        with tempfile.TemporaryDirectory(prefix="cv-ahead-", dir=baseline.folder.parent) as tmp:
            data_file = Path(tmp) / "cv-data.parquet"
            cross_validate = frame is not None and cv_applies(len(frame), cv)
            # the base's code is the code running here (e.g. a params-only pull request): no worktree, no process
            here = cross_validate and policy.params is not None and runs_the_base_code(baseline.sha)
            if cross_validate:
                assert frame is not None
                frame.to_parquet(data_file, index=False)
                progress(f"cross-validating both models ({cv.folds} folds x {cv.repeats}) while the pipeline runs")

            if cross_validate and not here:

                def base_side() -> None:
                    try:
                        base_oof(baseline, data_file, cv.folds, cv.repeats, seed)
                    except Exception as err:
                        failed.append(err)

                thread = threading.Thread(target=base_side, name="baseline-cv")
                thread.start()
            try:
                base_test = pd.read_parquet(baseline.path("test.parquet"))
                model = load_model(baseline.path("model.joblib"))
                # on the base's own first test row (after the pipeline it would be the candidate's first test
                # row: the same columns, and the row's values do not change the timing)
                ahead.base_latency_ms = single_row_latency_ms(
                    model, base_test, bd.target, bd.id_column, policy.compare.latency_repeats, spec, scorer
                )
                if cross_validate:
                    assert frame is not None
                    ahead.cand_runs = oof_predictions(params, spec, frame, cv.folds, cv.repeats, seed)
                    ahead.cv_key = _cv_key(data_file, cv, seed)
                if here:
                    assert policy.params is not None
                    progress(f"{policy.ref}'s code is the code running here: its cross-validation runs in-process")
                    _base_oof_here(baseline, policy.params, data_file, cv, seed)
            finally:
                if thread is not None:
                    thread.join()
        if failed:
            progress(f"the baseline's cross-validation failed ahead ({type(failed[0]).__name__}): retried after")
    except Exception as err:
        progress(f"stopped working ahead ({type(err).__name__}: {err}): the rest runs after the pipeline")
    progress("baseline ready; waiting for the candidate's pipeline")
    return ahead


def _base_oof_here(
    baseline: Baseline, base_params: Params, data_file: Path, cv: CrossValidationParams, seed: int
) -> None:
    """The base's ``cli cv-predict`` (base params and schema), in this process: only
    when the running code is the base's (``runs_the_base_code``). Kept where ``base_oof`` finds it."""
    out = oof_file(baseline, data_file, cv.folds, cv.repeats, seed)
    if out.exists():
        return
    schema = git_show(baseline.sha, Path(base_params.data.schema_path))
    if schema is None:
        raise BaselineError(f"{baseline.ref} has no {base_params.data.schema_path}")
    with tempfile.TemporaryDirectory(prefix="cv-here-", dir=baseline.folder) as tmp:
        schema_file = Path(tmp) / "schema.yaml"
        schema_file.write_bytes(schema)
        partial = Path(tmp) / "oof.npz"
        write_oof(base_params, load_spec(schema_file), data_file, cv.folds, cv.repeats, seed, partial)
        partial.replace(out)


def finish_candidate_pipeline(
    run: GuardedRepro, base_ref: str, out_dir: Path, scorer: ScorerFactory = dataframe_scorer
) -> tuple[bool, Ahead]:
    """Work ahead (:func:`work_ahead`) while the candidate's ``dvc repro`` (started by
    ``repro.start_candidate_pipeline``) runs, then wait for it and copy its output to stderr. On failure write
    a report that says so, and a comparison.json whose gate fails. Return whether the pipeline succeeded."""
    try:
        ahead = work_ahead(base_ref, scorer) if run.running else Ahead()
    finally:
        code = run.wait()
    sys.stderr.write(run.output)
    if code == 0:
        progress("the candidate's pipeline finished")
        return True, ahead
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    validation = paths.VALIDATION_REPORT_MD.read_text(encoding="utf-8") if paths.VALIDATION_REPORT_MD.exists() else None
    notes: list[str] = []
    sha = candidate_sha(notes)
    tail = "\n".join(run.output.splitlines()[-40:])
    (out_dir / "report.md").write_text(render_pipeline_failure(base_ref, sha, validation, tail), encoding="utf-8")
    ComparisonRecord.pipeline_failed(base_ref, sha).write_to(out_dir)
    progress(f"the candidate's pipeline failed; wrote {out_dir / 'report.md'}")
    return False, ahead


def gate_from_file(path: Path) -> tuple[bool, list[str]]:
    """Read comparison.json written by :func:`build_report`; return (passed, reasons or checks). HandOffError
    (naming the file and field) when it is missing or not a comparison record."""
    record = ComparisonRecord.read(path)
    return record.passed, record.gate_lines
