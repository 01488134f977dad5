"""A new metric and a new estimator are one registry entry each (docs/fork.md's worked examples).

The test registers ``balanced_accuracy`` and ``extra_trees`` the way a fork adds them, then follows each through
every consumer: the params loader, evaluation, resampling, the PR comparison and its gate (the metric); the params
loader, the model factory and the ONNX conversion (the estimator). Nothing else is edited, so a consumer with its
own list of metrics or estimators (the registry bypassed) fails here. Before registration, each is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pytest
from pydantic import Field
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.metrics import balanced_accuracy_score

from mlops_template.core import estimators
from mlops_template.core.config import CompareParams, ConfigError, Params, parse_params
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec
from mlops_template.core.estimators import Estimator, EstimatorParams
from mlops_template.core.metric_catalogue import CATALOGUE, Metric, register
from mlops_template.core.metric_kernels import Batch, resample_counts
from mlops_template.core.metrics import Predictions, compute_metrics
from mlops_template.core.model import build_pipeline
from mlops_template.experiment.compare import compare_predictions
from mlops_template.experiment.resample import ResampledMetrics
from mlops_template.ops.serving.onnx_path import DEFAULT_VARIANTS, agreement, convert_estimator, variants_for
from mlops_template.ops.serving.predictor import Predictor

# --- the metric: docs/fork.md's entry ------------------------------------------------------------------------


def _balanced_accuracy(b: Batch) -> np.ndarray:
    """Mean recall over the classes present in the labels (scikit-learn's balanced_accuracy_score)."""
    _, recall, _ = b.per_class()
    present = b.confusion()[2] > 0
    return np.asarray((recall * present).sum(axis=1) / present.sum(axis=1))


# a margin no built-in metric has, so the comparison's margin is seen to come from this entry
BALANCED_ACCURACY = Metric("balanced_accuracy", ("binary", "multiclass"), True, 0.02, _balanced_accuracy)


@pytest.fixture
def balanced_accuracy() -> Iterator[Metric]:
    metric = register(BALANCED_ACCURACY)
    yield metric
    del CATALOGUE[metric.name]


def _predictions(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> Predictions:
    return Predictions(np.arange(len(y)), y, classes[proba.argmax(axis=1)], proba, classes)


def _multiclass(rng: np.random.Generator, n: int, skill: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels of 3 unbalanced classes and probabilities that favour the true class by ``skill``."""
    y = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += skill
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_a_metric_is_unknown_until_registered() -> None:
    with pytest.raises(ConfigError, match=re.escape("primary_metric: unknown metric 'balanced_accuracy'")):
        parse_params({"task": "multiclass", "compare": {"primary_metric": "balanced_accuracy"}})
    y, proba = _multiclass(np.random.default_rng(0), 50, 1.0)
    assert "balanced_accuracy" not in compute_metrics("multiclass", y, proba.argmax(axis=1), proba, np.arange(3))


def test_a_registered_metric_flows_through_config_evaluation_resampling_and_the_gate(
    balanced_accuracy: Metric,
) -> None:
    rng = np.random.default_rng(1)
    classes = np.arange(3)
    y, good = _multiclass(rng, 400, 2.5)
    noise = rng.dirichlet(np.ones(3), 400)

    # config validation: the metric may be the primary one, get a margin and a floor
    raw = {"primary_metric": "balanced_accuracy", "floors": {"balanced_accuracy": 0.9}}
    params = parse_params({"task": "multiclass", "compare": raw | {"bootstrap_resamples": 300}}).compare

    # evaluation (the evaluate stage's metrics.json): scikit-learn's value
    base = _predictions(y, good, classes)
    evaluated = compute_metrics("multiclass", base.y_true, base.y_pred, base.proba, base.classes)
    assert evaluated["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, base.y_pred), abs=1e-6)
    binary = compute_metrics("binary", y > 0, good[:, 0] < 0.5, np.c_[good[:, 0], 1 - good[:, 0]], np.array([0, 1]))
    assert binary["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y > 0, good[:, 0] < 0.5), abs=1e-6)

    # resampling: each bootstrap resample, against scikit-learn on the rows it drew
    counts = next(resample_counts(400, 5, seed=2))
    resampled = ResampledMetrics("multiclass", base)(counts)["balanced_accuracy"]
    for b, w in enumerate(counts.astype(int)):
        idx = np.repeat(np.arange(400), w)
        assert resampled[b] == pytest.approx(balanced_accuracy_score(y[idx], base.y_pred[idx]), abs=1e-6)

    # the comparison and its gate: the primary metric, its direction and its default margin from the entry
    worse = compare_predictions("multiclass", base, _predictions(y, noise, classes), params, True, 0)
    row = worse.metric("balanced_accuracy")
    assert worse.primary_metric == "balanced_accuracy" and row.margin == 0.02 and row.higher_is_better
    assert row.verdict == "regressed" and not worse.gate.passed
    assert any(r.startswith("balanced_accuracy regressed beyond its margin") for r in worse.gate.reasons)
    assert any("balanced_accuracy >= 0.9" in r for r in worse.gate.reasons)  # the floor, too
    same = compare_predictions("multiclass", base, base, params, True, 0)
    assert same.metric("balanced_accuracy").verdict == "no detectable change"
    margin = CompareParams(primary_metric="balanced_accuracy", margins={"balanced_accuracy": 0.5})
    assert compare_predictions("multiclass", base, base, margin, True, 0).metric("balanced_accuracy").margin == 0.5


# --- the estimator: docs/fork.md's entry ---------------------------------------------------------------------


class ExtraTreesParams(EstimatorParams):
    n_estimators: Annotated[int, Field(ge=1)] = 200
    max_depth: Annotated[int, Field(ge=1)] | None = None
    min_samples_leaf: Annotated[int, Field(ge=1)] = 1
    n_jobs: int = 1


def _extra_trees(hp: ExtraTreesParams, task: str, seed: int) -> Any:
    cls = ExtraTreesRegressor if task == "regression" else ExtraTreesClassifier
    return cls(random_state=seed, **hp.model_dump())


# docs/fork.md lists ("float32", "float64-trees") as the forests do; here the other order, which no default
# and no class-name rule would pick, so the conversion is seen to follow the entry (both agree for trees)
EXTRA_TREES = Estimator("extra_trees", ExtraTreesParams, _extra_trees, ("float64-trees", "float32"))


@pytest.fixture
def extra_trees() -> Iterator[Estimator]:
    entry = estimators.register(EXTRA_TREES)
    yield entry
    del estimators.ESTIMATORS[entry.name]


SPEC = SchemaSpec(
    columns={
        "x1": ColumnSpec(dtype="float64"),
        "x2": ColumnSpec(dtype="float64", nullable=True),
        "colour": ColumnSpec(dtype="str", allowed=["red", "blue", "green"]),
        "target": ColumnSpec(dtype="float64"),
    }
)
FEATURES = ["x1", "x2", "colour"]


def _frame(task: str, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(0, 3, n),
            "x2": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "colour": rng.choice(["red", "blue", "green"], n),
        }
    )
    signal = frame["x1"] + (frame["colour"] == "red") * 2
    frame["target"] = signal * 10 if task == "regression" else (signal > 1).astype("int64")
    return frame


def test_an_estimator_is_unknown_until_registered() -> None:
    with pytest.raises(ConfigError, match=r"model\.type: Input should be 'linear', .* \(got 'extra_trees'\)"):
        parse_params({"model": {"type": "extra_trees"}})
    with pytest.raises(ConfigError, match=re.escape("model.extra_trees: unknown key")):
        parse_params({"model": {"extra_trees": {"n_estimators": 5}}})


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_registered_estimator_flows_through_config_the_factory_and_serving(extra_trees: Estimator, task: str) -> None:
    # config validation: the type, its block (defaults when left out), a bad key named
    assert Params().model.extra_trees == ExtraTreesParams()
    with pytest.raises(ConfigError, match=re.escape("model.extra_trees.n_estimatorz: unknown key")):
        parse_params({"model": {"type": "extra_trees", "extra_trees": {"n_estimatorz": 5}}})
    with pytest.raises(
        ConfigError, match=re.escape("model.extra_trees.min_samples_leaf: Input should be greater than")
    ):
        parse_params({"model": {"extra_trees": {"min_samples_leaf": 0}}})
    params = parse_params(
        {"task": task, "seed": 3, "model": {"type": "extra_trees", "extra_trees": {"n_estimators": 7}}}
    )
    assert params.model.selected() == ExtraTreesParams(n_estimators=7)

    # the model factory: the entry's estimator after the preprocessing, configured by its block
    frame = _frame(task)
    pipeline = build_pipeline(params, SPEC).fit(frame[FEATURES], frame["target"])
    fitted = pipeline.steps[-1][1]
    assert isinstance(fitted, ExtraTreesRegressor if task == "regression" else ExtraTreesClassifier)
    assert fitted.get_params()["n_estimators"] == 7 and fitted.get_params()["random_state"] == 3
    assert estimators.entry_of(fitted) is extra_trees

    # serving: the conversion tries the entry's variants in its order, and the served outputs agree
    plain = Predictor(pipeline, FEATURES, SPEC)
    records: list[dict[str, Any]] = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in frame[FEATURES].to_dict("records")
    ]
    reference = Predictor(pipeline, FEATURES, SPEC, fast=False).reference(records)
    assert variants_for(fitted) == ["float64-trees", "float32"] != list(DEFAULT_VARIANTS)

    def accept(model: Any) -> tuple[bool, str]:
        served = Predictor(pipeline, FEATURES, SPEC, onnx=model)
        ok, dev = agreement(served.outputs(records), reference, served.is_classifier)
        return ok and served.mode.startswith("numpy+onnx"), f"{dev:.2e}"

    width = plain.transform(plain.matrix(records[:1])).shape[1]
    model, note = convert_estimator(fitted, width, accept=accept)
    assert model is not None and model.variant == "float64-trees", note


def test_an_estimator_no_entry_builds_gets_the_default_variants() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    assert estimators.entry_of(KNeighborsClassifier()) is None
    assert variants_for(KNeighborsClassifier()) == list(DEFAULT_VARIANTS)


def test_a_bad_entry_is_refused_naming_the_problem() -> None:
    class NoDefault(EstimatorParams):
        depth: int

    def build(hp: Any, task: str, seed: int) -> Any:
        return ExtraTreesClassifier()

    with pytest.raises(ValueError, match="'linear': already registered"):
        estimators.register(Estimator("linear", ExtraTreesParams, build))
    with pytest.raises(ValueError, match="onnx_variants \\('float16',\\) must be among"):
        estimators.register(Estimator("trees", ExtraTreesParams, build, ("float16",)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="every field of NoDefault needs a default"):
        estimators.register(Estimator("trees", NoDefault, build))
    with pytest.raises(ValueError, match="plain identifier other than 'type'"):
        estimators.register(Estimator("type", ExtraTreesParams, build))
    assert "trees" not in estimators.ESTIMATORS
