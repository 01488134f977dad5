import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from mlops_template.core.config import parse_params
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec
from mlops_template.core.model import build_estimator, build_pipeline

EXPECTED = {
    ("binary", "linear"): LogisticRegression,
    ("binary", "random_forest"): RandomForestClassifier,
    ("binary", "hist_gradient_boosting"): HistGradientBoostingClassifier,
    ("multiclass", "linear"): LogisticRegression,
    ("regression", "linear"): Ridge,
    ("regression", "random_forest"): RandomForestRegressor,
    ("regression", "hist_gradient_boosting"): HistGradientBoostingRegressor,
}


@pytest.mark.parametrize(("task", "kind"), list(EXPECTED))
def test_factory_picks_estimator_by_task_and_type(task: str, kind: str) -> None:
    est = build_estimator(parse_params({"task": task, "model": {"type": kind}, "seed": 3}))
    assert isinstance(est, EXPECTED[(task, kind)])
    assert est.get_params()["random_state"] == 3


def test_hyperparameters_come_from_params() -> None:
    params = parse_params({"model": {"type": "random_forest", "random_forest": {"n_estimators": 17, "max_depth": 4}}})
    est = build_estimator(params)
    assert est.get_params()["n_estimators"] == 17
    assert est.get_params()["max_depth"] == 4
    ridge = build_estimator(parse_params({"task": "regression", "model": {"linear": {"C": 4.0}}}))
    assert ridge.get_params()["alpha"] == 0.25


def test_pipeline_handles_mixed_types_and_drops_id_and_target() -> None:
    spec = SchemaSpec(
        columns={
            "id": ColumnSpec(dtype="int64", unique=True),
            "num": ColumnSpec(dtype="float64", nullable=True),
            "flag": ColumnSpec(dtype="bool"),
            "colour": ColumnSpec(dtype="str", nullable=True, allowed=["red", "blue"]),
            "target": ColumnSpec(dtype="int64", allowed=[0, 1]),
        }
    )
    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame(
        {
            "num": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "flag": rng.random(n) < 0.5,
            "colour": rng.choice(["red", "blue", None], size=n),
        }
    )
    y = (frame["flag"]).astype(int)
    pipe = build_pipeline(parse_params({}), spec).fit(frame, y)
    names = list(pipe[:-1].get_feature_names_out())
    assert "num" in names
    assert "flag" in names
    assert any(n.startswith("colour_") for n in names)
    assert "id" not in names
    assert pipe.score(frame, y) > 0.9
