"""The optional prefetch hands over only what was made for exactly the inputs the comparison asks about."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlops_template.core.config import CrossValidationParams
from mlops_template.core.metrics import Predictions
from mlops_template.experiment.baseline import Baseline
from mlops_template.experiment.gather import HeadStart
from mlops_template.experiment.prefetch import Ahead, _cv_key


def _baseline(tmp_path: Path, sha: str) -> Baseline:
    return Baseline("main", sha, tmp_path / sha, "DVC cache/remote", True)


def test_ahead_answers_only_for_the_same_rows_folds_and_seed(tmp_path: Path) -> None:
    data = tmp_path / "cv-data.parquet"
    pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.2, 0.3], "target": [0, 1, 0]}).to_parquet(data, index=False)
    cv = CrossValidationParams(folds=5, repeats=3)
    runs = [Predictions(np.arange(3), np.array([0, 1, 0]), np.array([0, 1, 1]), None, None)]
    ahead = Ahead(cv_key=_cv_key(data, cv, 42), cand_runs=runs)
    head_start: HeadStart = ahead  # the protocol gather asks
    assert head_start.candidate_oof(data, cv, 42) is runs
    assert head_start.candidate_oof(data, cv, 7) is None  # another seed: other folds
    assert head_start.candidate_oof(data, CrossValidationParams(folds=5, repeats=2), 42) is None
    pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.2, 0.4], "target": [0, 1, 0]}).to_parquet(data, index=False)
    assert head_start.candidate_oof(data, cv, 42) is None  # the candidate's data differs from the base's
    assert Ahead().candidate_oof(data, cv, 42) is None


def test_ahead_answers_only_for_the_baseline_it_fetched(tmp_path: Path) -> None:
    fetched = _baseline(tmp_path, "a" * 40)
    ahead = Ahead(baseline=fetched, latency_ms=1.5)
    assert ahead.baseline_of("a" * 40) is fetched
    assert ahead.baseline_of("b" * 40) is None  # the base ref moved on since
    assert ahead.base_latency_ms(fetched) == 1.5
    assert ahead.base_latency_ms(_baseline(tmp_path, "a" * 40)) is None  # fetched again after the pipeline
    assert Ahead().baseline_of("a" * 40) is None
