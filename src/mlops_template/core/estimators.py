"""The estimators on offer, each ONE entry: its ``params.yaml`` block, its factory and how serving converts it.

- ``params``: the pydantic model of ``model.<name>`` in ``params.yaml`` (every field has a default). The params
  loader (``config.ModelParams``) accepts ``model.type: <name>`` and validates ``model.<name>`` with it, naming a
  bad key (``params.yaml: model.<name>.<key>: unknown key``).
- ``build``: (the validated block, the task, the seed) -> an unfitted scikit-learn estimator; ``core/model.py``
  puts it after the preprocessing. scikit-learn is imported inside the factories: this module stays light
  (the params loader imports it).
- ``onnx_variants``: the input types ``make bento`` tries when converting the fitted estimator to ONNX,
  preferred first (plain data; ``ops/serving/onnx_path.py`` says what each means and tries them in this
  order). ``float32``: what scikit-learn's forests compare; ``float64-trees``: double thresholds, as
  histogram gradient boosting compares; ``float64``: the converter's defaults (linear models).

A new estimator is one entry of :data:`ESTIMATORS` (``docs/fork.md`` has a worked example), or
:func:`register` at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OnnxVariant = Literal["float64-trees", "float32", "float64"]
ONNX_VARIANTS: tuple[str, ...] = ("float64-trees", "float32", "float64")
TASKS = ("binary", "multiclass", "regression")


class EstimatorParams(BaseModel):
    """Base of an estimator's block: unknown keys are errors, values are immutable (as every config model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Estimator:
    """One estimator on offer (see the module's docstring)."""

    name: str
    params: type[EstimatorParams]
    build: Callable[[Any, str, int], Any]  # (block, task, seed) -> unfitted estimator
    onnx_variants: tuple[OnnxVariant, ...] = ("float64", "float32")


class LinearParams(EstimatorParams):
    C: Annotated[float, Field(gt=0.0)] = 1.0
    max_iter: Annotated[int, Field(ge=1)] = 1000
    class_weight: Literal["balanced"] | None = None


def _linear(hp: LinearParams, task: str, seed: int) -> Any:
    """LogisticRegression (classification) / Ridge with alpha = 1/C (regression)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "regression":
        return Ridge(alpha=1.0 / hp.C, random_state=seed)
    return LogisticRegression(C=hp.C, max_iter=hp.max_iter, class_weight=hp.class_weight, random_state=seed)


class RandomForestParams(EstimatorParams):
    n_estimators: Annotated[int, Field(ge=1)] = 200
    max_depth: Annotated[int, Field(ge=1)] | None = None
    min_samples_leaf: Annotated[int, Field(ge=1)] = 1
    max_features: Literal["sqrt", "log2"] | Annotated[float, Field(gt=0.0, le=1.0)] = "sqrt"
    class_weight: Literal["balanced", "balanced_subsample"] | None = None
    n_jobs: int = 1


def _random_forest(hp: RandomForestParams, task: str, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if task == "regression":
        return RandomForestRegressor(random_state=seed, **hp.model_dump(exclude={"class_weight"}))
    return RandomForestClassifier(random_state=seed, **hp.model_dump())


class HistGradientBoostingParams(EstimatorParams):
    learning_rate: Annotated[float, Field(gt=0.0)] = 0.1
    max_iter: Annotated[int, Field(ge=1)] = 200
    max_leaf_nodes: Annotated[int, Field(ge=2)] | None = 31
    max_depth: Annotated[int, Field(ge=1)] | None = None
    min_samples_leaf: Annotated[int, Field(ge=1)] = 20
    l2_regularization: Annotated[float, Field(ge=0.0)] = 0.0
    early_stopping: bool = False


def _hist_gradient_boosting(hp: HistGradientBoostingParams, task: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return cls(random_state=seed, **hp.model_dump())


ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator("linear", LinearParams, _linear, ("float64", "float32")),
        Estimator("random_forest", RandomForestParams, _random_forest, ("float32", "float64-trees")),
        Estimator(
            "hist_gradient_boosting", HistGradientBoostingParams, _hist_gradient_boosting, ("float64-trees", "float32")
        ),
    )
}


def register(entry: Estimator) -> Estimator:
    """Add an estimator at run time (a fork's own module, a test); an entry of :data:`ESTIMATORS` is the same."""
    problems = []
    if entry.name in ESTIMATORS:
        problems.append("already registered")
    if not entry.name.isidentifier() or entry.name == "type":
        problems.append("the name must be a plain identifier other than 'type' (it is a key of params.yaml's model)")
    if not entry.onnx_variants or any(v not in ONNX_VARIANTS for v in entry.onnx_variants):
        problems.append(f"onnx_variants {entry.onnx_variants} must be among {ONNX_VARIANTS}")
    try:
        entry.params()
    except Exception as err:  # a field without a default: the block could not be left out of params.yaml
        problems.append(f"every field of {entry.params.__name__} needs a default ({type(err).__name__})")
    if problems:
        raise ValueError(f"estimator {entry.name!r}: {'; '.join(problems)}")
    ESTIMATORS[entry.name] = entry
    return entry


def get(name: str) -> Estimator:
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"model.type: unknown estimator {name!r} (known: {', '.join(ESTIMATORS)})") from None


def entry_of(estimator: Any) -> Estimator | None:
    """The entry whose factory builds an estimator of this class (for any task, with its default block), else
    None: how serving finds the conversion hints of a fitted model."""
    for entry in ESTIMATORS.values():
        defaults = entry.params()
        if any(type(entry.build(defaults, task, 0)) is type(estimator) for task in TASKS):
            return entry
    return None
