"""Gather: everything the PR comparison reads, from the candidate's workspace and the baseline bundle.

The first of the experiment's three steps (gather, :mod:`~mlops_template.experiment.compare`, render; see
:func:`~mlops_template.experiment.pr_report.build_report`): both models' predictions on the test split, their
size and single-row latency, the out-of-fold predictions of repeated cross-validation, both data sides, the
schema and params diffs. Nothing here decides anything: the verdict is ``compare``'s, under the base's policy.

``head_start`` is optional work done earlier by someone else (``experiment/prefetch.py`` does it while the
candidate's pipeline runs). It only saves time: every answer it gives is one this module would compute itself
with the same code, and without it (``None``, or a fork that deleted ``prefetch.py``) the comparison is the same.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

from mlops_template.core import paths
from mlops_template.core.config import CrossValidationParams, Params
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
from mlops_template.experiment.policy import BasePolicy, proposed_policy_changes

ScorerFactory = Callable[[Pipeline, pd.DataFrame, SchemaSpec | None], Callable[[], object]]

# Files `dvc repro` rewrites: a difference there does not make the candidate's commit "dirty".
PIPELINE_OUTPUTS = ("dvc.lock", "models/", "metrics/", "plots/", "reports/")


class HeadStart(Protocol):
    """Work done before the comparison asked for it. Every answer may be None: then :func:`gather` does it."""

    def baseline_of(self, sha: str) -> Baseline | None:
        """The base commit's bundle, if already fetched."""

    def base_latency_ms(self, baseline: Baseline) -> float | None:
        """The baseline model's single-row latency, if already timed."""

    def candidate_oof(self, data_file: Path, cv: CrossValidationParams, seed: int) -> list[Predictions] | None:
        """The candidate's out-of-fold predictions, if made on exactly this data file, folds, repeats and seed."""


@dataclass
class Side:
    """One model as the report shows it: predictions on the test split, size and single-row latency."""

    sha: str
    pred: Predictions
    size_mb: float
    latency_ms: float
    mlflow_url: str | None = None


@dataclass
class CrossValidated:
    """Out-of-fold predictions of both models, one per repetition, on the same rows and folds."""

    baseline: list[Predictions]
    candidate: list[Predictions]
    method: str


@dataclass
class Gathered:
    """Everything :func:`~mlops_template.experiment.pr_report.build_report` compares and renders."""

    baseline: Baseline
    base: Side
    cand: Side
    paired: bool  # same test rows (ids, columns, values): both models scored on the candidate's
    seed: int  # the base's seed: folds and bootstrap draws
    cv: CrossValidated | None  # None: compared on the test split (a note says why when it is not the default)
    data: DataDiff
    params_changes: list[Change]
    policy_changes: list[Change]  # the candidate's proposal for ``compare:`` (applies after merge)
    validation_md: str | None
    notes: list[str]


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


def candidate_sha(notes: list[str]) -> str:
    """HEAD's SHA; a note lists tracked files that differ from it (other than pipeline outputs)."""
    sha = git("rev-parse", "HEAD").strip()
    status = git("status", "--porcelain", "--untracked-files=no").splitlines()
    changed = [line[3:] for line in status if not line[3:].startswith(PIPELINE_OUTPUTS)]
    if changed:
        notes.append(f"the candidate has uncommitted changes to {', '.join(changed)} (scored as they are)")
    return sha


def validation_md() -> str | None:
    """The candidate's data validation report (the validate stage's), if it wrote one."""
    return paths.VALIDATION_REPORT_MD.read_text(encoding="utf-8") if paths.VALIDATION_REPORT_MD.exists() else None


def candidate_params_changes(policy: BasePolicy) -> list[Change]:
    """Every key of the workspace's params.yaml that differs from the base's."""
    return params_diff(policy.raw, _yaml(Path("params.yaml")))


def candidate_side(params: Params, repeats: int, scorer: ScorerFactory, notes: list[str]) -> tuple[Side, int]:
    """The candidate alone (a pull request whose model answers another question): its side, test rows."""
    d = params.data
    model = load_model(paths.MODEL)
    test = pd.read_parquet(paths.TEST_DATA)
    pred = predict(model, test, d.target, d.id_column, params.evaluate.threshold)
    size = paths.MODEL.stat().st_size / 1e6
    spec = load_spec(d.schema_path)  # the served path needs the schema (dtypes, probe rows)
    latency = single_row_latency_ms(model, test, d.target, d.id_column, repeats, spec, scorer)
    return Side(candidate_sha(notes), pred, size, latency, mlflow_url(load_training_run())), len(test)


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return data if isinstance(data, dict) else {}


def _yaml_at(baseline: Baseline, schema_path: str) -> dict[str, Any]:
    """The base commit's schema file (git), which may live at another path than the candidate's."""
    data = git_show(baseline.sha, Path(schema_path))
    loaded = yaml.safe_load(data) if data else None
    return loaded if isinstance(loaded, dict) else {}


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


def _data_diff(
    baseline: Baseline, base_test: pd.DataFrame, cand_test: pd.DataFrame, paired: bool, sides: tuple[Params, Params]
) -> tuple[DataDiff, list[str]]:
    """Rows, hashes and label balance of both sides, and the schema changes (with notes on unreadable schemas)."""
    base_params, params = sides
    notes: list[str] = []
    base_meta = load_card(baseline.path("metadata.json"))  # also reads the pre-card format of an older base
    base_side = _data_side(
        baseline.path("raw.parquet"), base_test, baseline.path("test.parquet"), base_meta.train_rows, base_params
    )
    cand_meta = load_card(paths.MODEL_METADATA)
    cand_side = _data_side(paths.RAW_DATA, cand_test, paths.TEST_DATA, cand_meta.train_rows, params)
    schemas = (
        _schema(_yaml_at(baseline, base_params.data.schema_path), "baseline", notes),
        _schema(_yaml(Path(params.data.schema_path)), "candidate", notes),
    )
    return DataDiff(base_side, cand_side, same_test_rows=paired, schema_changes=schema_diff(*schemas)), notes


def cv_frame(raw: Path, spec: SchemaSpec, id_column: str) -> pd.DataFrame:
    """The rows both models are cross-validated on: the extracted data cast to the schema's dtypes (what the
    split stage divides into train and test), in id order."""
    return sort_rows(coerce(pd.read_parquet(raw), spec), id_column)


def cv_seed(policy: BasePolicy, params: Params) -> int:
    """The base's seed (the candidate's when the base params do not load): folds and bootstrap draws."""
    return policy.params.seed if policy.params is not None else params.seed


def baseline_oof(baseline: Baseline, policy: BasePolicy, data_file: Path, cv: CrossValidationParams, seed: int) -> Path:
    """The base's out-of-fold predictions on ``data_file`` (base code, base params and schema), cached in the
    baseline folder (:func:`~mlops_template.experiment.baseline.oof_file`). In this process when the running
    code is the base's (e.g. a params-only pull request), else ``cv-predict`` in a worktree of the base commit."""
    out = oof_file(baseline, data_file, cv.folds, cv.repeats, seed)
    if out.exists() or policy.params is None or not runs_the_base_code(baseline.sha):
        return base_oof(baseline, data_file, cv.folds, cv.repeats, seed)
    progress(f"{policy.ref}'s code is the code running here: its cross-validation runs in-process")
    schema = git_show(baseline.sha, Path(policy.params.data.schema_path))
    if schema is None:
        raise BaselineError(f"{baseline.ref} has no {policy.params.data.schema_path}")
    with tempfile.TemporaryDirectory(prefix="cv-here-", dir=baseline.folder) as tmp:
        schema_file = Path(tmp) / "schema.yaml"
        schema_file.write_bytes(schema)
        partial = Path(tmp) / "oof.npz"
        write_oof(policy.params, load_spec(schema_file), data_file, cv.folds, cv.repeats, seed, partial)
        partial.replace(out)
    return out


def _both_oof(
    baseline: Baseline,
    params: Params,
    policy: BasePolicy,
    frame: pd.DataFrame,
    notes: list[str],
    ahead: HeadStart | None,
) -> tuple[list[Predictions], list[Predictions]] | None:
    """Both models' out-of-fold predictions on ``frame`` (None, with a note, when the baseline's failed)."""
    cv, seed = policy.compare.cross_validation, cv_seed(policy, params)
    with tempfile.TemporaryDirectory(prefix="cv-", dir=baseline.folder.parent) as tmp:
        data_file = Path(tmp) / "cv-data.parquet"
        frame.to_parquet(data_file, index=False)
        progress(f"cross-validating the baseline with {policy.ref}'s code ({cv.folds} folds x {cv.repeats})")
        try:
            base_runs = load_oof(baseline_oof(baseline, policy, data_file, cv, seed))
        except CrossValidationUnsupported as err:
            notes.append(
                f"{err} (it predates repeated cross-validation): compared on the test split instead; "
                "the next pull request after this template update is merged gets the cross-validated comparison"
            )
            return None
        except BaselineError as err:
            notes.append(f"cross-validating the baseline failed, compared on the test split instead: {err}")
            return None
        cand_runs = ahead.candidate_oof(data_file, cv, seed) if ahead is not None else None
    if cand_runs is None:
        progress(f"cross-validating the candidate ({cv.folds} folds x {cv.repeats})")
        cand_runs = oof_predictions(params, load_spec(params.data.schema_path), frame, cv.folds, cv.repeats, seed)
    return base_runs, cand_runs


def cross_validated(
    baseline: Baseline, params: Params, policy: BasePolicy, notes: list[str], ahead: HeadStart | None = None
) -> CrossValidated | None:
    """Out-of-fold predictions of both models on the same folds, or None (with a note) when not applicable."""
    cv = policy.compare.cross_validation
    d = params.data
    if not paths.RAW_DATA.exists():
        return None
    frame = cv_frame(paths.RAW_DATA, load_spec(d.schema_path), d.id_column)
    if not cv_applies(len(frame), cv):
        if cv.max_rows:
            notes.append(
                f"{len(frame)} rows > compare.cross_validation.max_rows ({cv.max_rows}): compared on the test split"
            )
        return None
    if not baseline.has("raw.parquet") or file_md5(baseline.path("raw.parquet")) != file_md5(paths.RAW_DATA):
        notes.append("the data changed, so the models are compared on their test splits, not cross-validated")
        return None
    runs = _both_oof(baseline, params, policy, frame, notes, ahead)
    if runs is None:
        return None
    base_runs, cand_runs = runs
    if len(base_runs[0].ids) != len(frame) or not np.array_equal(
        base_runs[0].ids.astype(str), cand_runs[0].ids.astype(str)
    ):
        notes.append("the baseline's out-of-fold rows do not match the candidate's: compared on the test split")
        return None
    method = f"repeated cross-validation ({cv.folds} folds x {cv.repeats} repetitions, {len(frame)} rows)"
    return CrossValidated(base_runs, cand_runs, method)


def _scored(
    baseline: Baseline,
    params: Params,
    base_params: Params,
    repeats: int,
    scorer: ScorerFactory,
    ahead: HeadStart | None,
) -> tuple[Side, Side, bool, pd.DataFrame, pd.DataFrame]:
    """Both models on the test split (the candidate's rows for both when the split is the same): sides without
    their SHAs, whether paired, and both test frames."""
    d, bd = params.data, base_params.data
    progress("scoring both models on the test split")
    cand_model, base_model = load_model(paths.MODEL), load_model(baseline.path("model.joblib"))
    cand_test = pd.read_parquet(paths.TEST_DATA)
    base_test = pd.read_parquet(baseline.path("test.parquet"))
    paired = same_rows(base_test, cand_test, d.id_column) and (bd.target, bd.id_column) == (d.target, d.id_column)
    cand_pred = predict(cand_model, cand_test, d.target, d.id_column, params.evaluate.threshold)
    base_rows = cand_test if paired else base_test
    base_pred = predict(base_model, base_rows, bd.target, bd.id_column, base_params.evaluate.threshold)
    spec = load_spec(d.schema_path)  # the served path needs the schema (dtypes, probe rows)
    cand_latency = single_row_latency_ms(cand_model, cand_test, d.target, d.id_column, repeats, spec, scorer)
    base_latency = ahead.base_latency_ms(baseline) if ahead is not None else None  # shown, never gated
    if base_latency is None:
        base_latency = single_row_latency_ms(base_model, base_rows, bd.target, bd.id_column, repeats, spec, scorer)
    cand = Side("", cand_pred, paths.MODEL.stat().st_size / 1e6, cand_latency)
    base = Side(baseline.sha, base_pred, baseline.path("model.joblib").stat().st_size / 1e6, base_latency)
    return base, cand, paired, base_test, cand_test


def gather(
    base_ref: str,
    policy: BasePolicy,
    params: Params,
    rebuild: bool = True,
    scorer: ScorerFactory = dataframe_scorer,
    ahead: HeadStart | None = None,
) -> Gathered:
    """Both sides of the comparison of the workspace's model with ``base_ref``'s (``policy``: the base's)."""
    notes: list[str] = list(policy.notes)
    baseline = ahead.baseline_of(policy.sha) if ahead is not None else None
    if baseline is None:
        baseline = get_baseline(base_ref, rebuild=rebuild)
    base_params = _base_params(policy, params, notes)
    repeats = policy.compare.latency_repeats
    base, cand, paired, base_test, cand_test = _scored(baseline, params, base_params, repeats, scorer, ahead)
    cv = cross_validated(baseline, params, policy, notes, ahead) if paired else None
    data, schema_notes = _data_diff(baseline, base_test, cand_test, paired, (base_params, params))
    notes += schema_notes
    if baseline.lock_md5_matches is False:
        notes.append(
            "the rebuilt baseline model differs byte-wise from the one the base dvc.lock records "
            "(non-deterministic training or environment)"
        )
    cand.sha, cand.mlflow_url = candidate_sha(notes), mlflow_url(load_training_run())
    return Gathered(
        baseline=baseline,
        base=base,
        cand=cand,
        paired=paired,
        seed=cv_seed(policy, params),
        cv=cv,
        data=data,
        params_changes=candidate_params_changes(policy),
        policy_changes=proposed_policy_changes(policy, params),
        validation_md=validation_md(),
        notes=notes,
    )
