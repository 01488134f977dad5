"""The DEMO's domain-specific behaviour (breast cancer): an example of a directional test to write for your data.

`make init` with another data source deletes this file and says so; it also skips itself, with the
reason, when the demo's columns are absent. The generic model contract is in test_model_contract.py.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlops_template.core.config import Params
from mlops_template.core.data.schema import SchemaSpec, coerce
from mlops_template.core.data.split import split_frame
from mlops_template.core.model import build_pipeline

MODEL_TYPES = ["linear", "random_forest", "hist_gradient_boosting"]
DEMO_COLUMNS = ("worst_radius", "worst_perimeter", "worst_area", "worst_concave_points")


@pytest.fixture(scope="module", autouse=True)
def _demo_data_only(spec: SchemaSpec, params: Params) -> None:
    missing = [c for c in DEMO_COLUMNS if c not in spec.columns]
    if missing or params.task != "binary":
        pytest.skip(f"demo-only test: the breast-cancer columns {missing} are not in this project's schema")


@pytest.fixture(scope="module")
def splits(raw_frame: pd.DataFrame, spec: SchemaSpec, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = coerce(raw_frame, spec)
    return split_frame(frame, params.data.target, params.split.test_size, params.seed, True)


def _fit(params: Params, spec: SchemaSpec, train: pd.DataFrame, model_type: str) -> Pipeline:
    p = params.model_copy(update={"model": params.model.model_copy(update={"type": model_type})})
    features = spec.feature_columns(params.data.target, params.data.id_column)
    return build_pipeline(p, spec).fit(train[features], train[params.data.target])


@pytest.fixture(scope="module")
def models(params: Params, spec: SchemaSpec, splits) -> dict[str, Pipeline]:
    return {t: _fit(params, spec, splits[0], t) for t in MODEL_TYPES}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_larger_worst_radius_makes_benign_less_likely(model_type: str, models, splits, params: Params) -> None:
    """Directional: bigger, more concave tumours are more likely malignant (class 0), i.e. P(benign) drops."""
    test = splits[1]
    features = [c for c in test.columns if c not in (params.data.target, params.data.id_column)]
    x = test[features]
    bigger = x.copy()
    for col in DEMO_COLUMNS:
        bigger[col] = x[col] * 1.5
    p0 = models[model_type].predict_proba(x)[:, 1]
    p1 = models[model_type].predict_proba(bigger)[:, 1]
    assert (p1 <= p0 + 1e-9).mean() >= 0.95
    assert p1.mean() < p0.mean()
