"""Optional speed-up of ``pr-report --repro``: work on the baseline while the candidate's pipeline runs.

Nothing the comparison needs lives here. The pipeline (``dvc repro``, started in the background by
``repro.start_candidate_pipeline``) is the slowest step and the baseline's side does not depend on it, so
:func:`work_ahead` does what it can meanwhile, with the same functions :mod:`~mlops_template.experiment.gather`
calls: fetch the baseline (from the DVC cache or remote, never rebuilt here), time its single-row latency,
and cross-validate both models on the base's data. It returns an :class:`Ahead`, which ``gather`` asks
(:class:`~mlops_template.experiment.gather.HeadStart`); what it cannot answer, or answers for other inputs
(the candidate's cross-validation is used only on a byte-identical data file, same folds, repeats and seed),
``gather`` computes after the pipeline. ``pr-report --no-prefetch`` skips this module; a fork may delete it
(and the three lines in ``cli.cmd_pr_report`` that call it): the comparison is the same, only slower.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops_template.core.config import CrossValidationParams, Params, load_params
from mlops_template.core.data.schema import load_spec
from mlops_template.core.lineage import file_md5
from mlops_template.core.metrics import Predictions
from mlops_template.core.model_io import load_model
from mlops_template.experiment.baseline import Baseline, base_oof, get_baseline, progress, runs_the_base_code
from mlops_template.experiment.crossval import cv_applies, oof_predictions
from mlops_template.experiment.gather import ScorerFactory, baseline_oof, cv_frame, cv_seed, single_row_latency_ms
from mlops_template.experiment.policy import BasePolicy, incomparable_changes, read_base_policy
from mlops_template.experiment.repro import GuardedRepro

CvKey = tuple[str, int, int, int]  # md5 of the cross-validation data file, folds, repeats, seed


def _cv_key(data_file: Path, cv: CrossValidationParams, seed: int) -> CvKey:
    return file_md5(data_file), cv.folds, cv.repeats, seed


@dataclass
class Ahead:
    """What :func:`work_ahead` did; answers :class:`~mlops_template.experiment.gather.HeadStart`."""

    baseline: Baseline | None = None
    cv_key: CvKey | None = None
    cand_runs: list[Predictions] | None = None  # the candidate's out-of-fold predictions on that file
    latency_ms: float | None = None  # the baseline's

    def baseline_of(self, sha: str) -> Baseline | None:
        return self.baseline if self.baseline is not None and self.baseline.sha == sha else None

    def base_latency_ms(self, baseline: Baseline) -> float | None:
        return self.latency_ms if baseline is self.baseline else None

    def candidate_oof(self, data_file: Path, cv: CrossValidationParams, seed: int) -> list[Predictions] | None:
        return self.cand_runs if self.cv_key is not None and self.cv_key == _cv_key(data_file, cv, seed) else None


def while_pipeline_runs(run: GuardedRepro, base_ref: str, scorer: ScorerFactory) -> Ahead:
    """:func:`work_ahead` while ``run`` (the candidate's ``dvc repro``) runs; does not wait for it, unless
    interrupted (then it waits, so that the pipeline puts ``dvc.lock`` back before this process ends)."""
    if not run.running:
        return Ahead()
    try:
        return work_ahead(base_ref, scorer)
    except BaseException:
        run.wait()
        raise


def work_ahead(base_ref: str, scorer: ScorerFactory) -> Ahead:
    """Fetch the baseline, time it and cross-validate both models on the base's data. Best effort: what did
    not happen here, :func:`~mlops_template.experiment.gather.gather` does after the pipeline."""
    ahead = Ahead()
    try:
        params = load_params()
        policy = read_base_policy(base_ref)
        if incomparable_changes(policy, params):
            return ahead
        ahead.baseline = get_baseline(base_ref, rebuild=False)
    except Exception as err:
        progress(f"baseline not fetched ahead ({type(err).__name__}); that happens after the pipeline")
        return ahead
    try:
        _work_on(ahead, ahead.baseline, params, policy, scorer)
    except Exception as err:
        progress(f"stopped working ahead ({type(err).__name__}: {err}): the rest runs after the pipeline")
    progress("baseline ready; waiting for the candidate's pipeline")
    return ahead


def _work_on(ahead: Ahead, baseline: Baseline, params: Params, policy: BasePolicy, scorer: ScorerFactory) -> None:
    """The baseline's latency; both models' cross-validation on the base's rows (the baseline's in a thread
    when it needs a ``cv-predict`` process with the base's code, else in this process after the candidate's)."""
    cv, seed = policy.compare.cross_validation, cv_seed(policy, params)
    spec = load_spec(params.data.schema_path)
    frame = cv_frame(baseline.path("raw.parquet"), spec, params.data.id_column) if baseline.has("raw.parquet") else None
    failed: list[BaseException] = []
    thread = None
    with tempfile.TemporaryDirectory(prefix="cv-ahead-", dir=baseline.folder.parent) as tmp:
        data_file = Path(tmp) / "cv-data.parquet"
        cross_validate = frame is not None and cv_applies(len(frame), cv)
        here = cross_validate and policy.params is not None and runs_the_base_code(baseline.sha)
        if frame is not None and cross_validate:
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
            ahead.latency_ms = _base_latency(baseline, params, policy, scorer)
            if frame is not None and cross_validate:
                ahead.cand_runs = oof_predictions(params, spec, frame, cv.folds, cv.repeats, seed)
                ahead.cv_key = _cv_key(data_file, cv, seed)
            if here:
                baseline_oof(baseline, policy, data_file, cv, seed)  # in this process: the code is the base's
        finally:
            if thread is not None:
                thread.join()
    if failed:
        progress(f"the baseline's cross-validation failed ahead ({type(failed[0]).__name__}): retried after")


def _base_latency(baseline: Baseline, params: Params, policy: BasePolicy, scorer: ScorerFactory) -> float:
    """On the base's own first test row (after the pipeline it would be the candidate's first test row: the
    same columns, and the row's values do not change the timing)."""
    bd = (policy.params or params).data
    base_test = pd.read_parquet(baseline.path("test.parquet"))
    model = load_model(baseline.path("model.joblib"))
    spec = load_spec(params.data.schema_path)
    repeats = policy.compare.latency_repeats
    return single_row_latency_ms(model, base_test, bd.target, bd.id_column, repeats, spec, scorer)
