"""The one typed loader for ``params.yaml``.

Every knob of the pipeline lives in ``params.yaml``; this module is the only place that reads it.
Unknown keys and ill-typed values are rejected with a message that names the key, e.g.
``params.yaml: model.random_forest.n_estimatorz: unknown key``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from mlops_template.core.estimators import ESTIMATORS, Estimator, EstimatorParams
from mlops_template.core.metric_catalogue import HIGHER_IS_BETTER

DEFAULT_PARAMS_PATH = Path("params.yaml")


class ConfigError(ValueError):
    """params.yaml (or another config file) is missing, unreadable or invalid."""


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


TaskType = Literal["binary", "multiclass", "regression"]


class DataParams(StrictModel):
    source: str = Field(
        "sklearn:breast_cancer",
        description="sklearn:<name> for a bundled dataset, or a CSV/Parquet path or URL "
        "(local, s3://, https://, anything fsspec reads).",
    )
    format: Literal["auto", "csv", "parquet"] = "auto"
    target: str = "target"
    id_column: str = "id"
    schema_path: str = "data/schema.yaml"
    missing_labels: Literal["error", "drop"] = Field(
        "error",
        description="rows whose target is empty: error = validation stops, naming the column; "
        "drop = the extract stage drops them and logs how many",
    )


class SplitParams(StrictModel):
    test_size: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    stratify: bool = True


class FeatureParams(StrictModel):
    numeric_imputer: Literal["mean", "median", "most_frequent"] = "median"
    scaler: Literal["standard", "minmax", "none"] = "standard"
    categorical_imputer: Literal["most_frequent", "constant"] = "most_frequent"
    max_categories: Annotated[int, Field(ge=2)] = 20


class ModelParams(StrictModel):
    """``model.type`` names an entry of the estimator registry (:data:`~mlops_template.core.estimators.ESTIMATORS`),
    and ``model.<name>`` is that entry's block of hyper-parameters: every registered estimator has one (its
    defaults when params.yaml leaves it out), and any other key is unknown. Validated against the registry as it
    is when params are loaded, so an estimator registered at run time is accepted the same way."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str = "linear"

    @model_validator(mode="before")
    @classmethod
    def _registered(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # an instance already validated, or a wrong type that pydantic reports
        validated = _model_section(tuple(ESTIMATORS.values())).model_validate(data)  # errors: model.<name>.<key>
        return dict(validated)

    def selected(self) -> EstimatorParams:
        """The hyper-parameter block of the chosen estimator."""
        block: EstimatorParams = getattr(self, self.type)
        return block


@lru_cache(maxsize=8)
def _model_section(entries: tuple[Estimator, ...]) -> type[BaseModel]:
    """The pydantic model of params.yaml's ``model:`` for these registry entries (``type`` + one block each)."""
    names = tuple(e.name for e in entries)
    fields: dict[str, Any] = {e.name: (e.params, Field(default_factory=e.params)) for e in entries}
    fields["type"] = (Literal.__getitem__(names), "linear" if "linear" in names else names[0])
    return create_model("ModelParams", __config__=ConfigDict(extra="forbid", frozen=True), **fields)


class EvaluateParams(StrictModel):
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    calibration_bins: Annotated[int, Field(ge=2)] = 10


class MlflowParams(StrictModel):
    experiment: str = "mlops-template"
    tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        description="Used when the MLFLOW_TRACKING_URI environment variable is not set.",
    )
    registered_model_name: str = "mlops-template-model"


class CrossValidationParams(StrictModel):
    """Repeated k-fold cross-validation of both models on the same folds (small data: more rows compared)."""

    folds: Annotated[int, Field(ge=2)] = 5
    repeats: Annotated[int, Field(ge=1)] = 3
    max_rows: Annotated[int, Field(ge=0)] = Field(
        20_000, description="cross-validate when train + test have at most this many rows (0 = never)"
    )


class CompareParams(StrictModel):
    """Pull request = experiment: the candidate vs the model the base branch points at, and the gate.

    The gate always applies the *base branch's* ``compare:`` section; a pull request's changes to it are
    shown in the report and apply after merge.
    """

    primary_metric: str | None = Field(None, description="null = DEFAULT_PRIMARY_METRIC of the task")
    margins: dict[str, Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=dict,
        description="practical margin per metric, in metric units (overrides DEFAULT_MARGINS): a change is a "
        "regression/improvement only when it is detectable AND larger than this",
    )
    floors: dict[str, float] = Field(
        default_factory=dict,
        description="absolute limits on the candidate: a minimum for higher-is-better metrics, "
        "a maximum for lower-is-better ones (log_loss, brier, rmse, mae)",
    )
    max_model_size_mb: Annotated[float, Field(gt=0.0)] | None = None
    max_latency_ms: Annotated[float, Field(gt=0.0)] | None = None
    latency_repeats: Annotated[int, Field(ge=1)] = 50
    bootstrap_resamples: Annotated[int, Field(ge=10)] = 1000
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.90
    cross_validation: CrossValidationParams = CrossValidationParams()

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_drop" in data:
            raise ValueError(
                "max_drop was removed (it was ignored): set the practical margin per metric instead, "
                "e.g. `margins: {roc_auc: 0.01}` (a drop counts only when detectable AND larger than its margin)"
            )
        return data

    @model_validator(mode="after")
    def _known_metrics(self) -> CompareParams:
        named = [("primary_metric", self.primary_metric), *(("floors", n) for n in self.floors)]
        named += [("margins", n) for n in self.margins]
        for key, name in named:
            if name is not None and name not in HIGHER_IS_BETTER:
                raise ValueError(f"{key}: unknown metric {name!r} (known: {', '.join(HIGHER_IS_BETTER)})")
        return self


class ServingParams(StrictModel):
    """The BentoML service (``make bento`` / ``make serve``); baked into the bento at build time."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")] = "mlops-template-service"
    model_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")] = "mlops-template-model"
    workers: Annotated[int, Field(ge=1)] = 1
    max_batch_size: Annotated[int, Field(ge=1)] = 10_000
    max_request_bytes: Annotated[int, Field(ge=1024)] = 16_000_000
    timeout_seconds: Annotated[float, Field(gt=0.0)] = 60.0
    access_log: bool = False
    tracing: bool = False
    prediction_log: bool = False
    prediction_log_path: str = "logs/predictions.jsonl"
    feedback_log_path: str = "logs/feedback.jsonl"
    shadow_queue_size: Annotated[int, Field(ge=1)] = 1000


class MonitorParams(StrictModel):
    """Drift monitoring of served traffic (``make monitor LOG=...``) and the reference profile stage."""

    bins: Annotated[int, Field(ge=2, le=100)] = 10
    window: Annotated[int, Field(ge=1)] = 1000
    window_hours: Annotated[float, Field(gt=0.0)] | None = None
    min_rows: Annotated[int, Field(ge=1)] = 100
    psi_threshold: Annotated[float, Field(gt=0.0)] = 0.2
    p_value: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    max_malformed_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    # live performance (ground-truth labels joined to the logged predictions, `make monitor LABELS=...`)
    label_horizon_days: Annotated[float, Field(gt=0.0)] = Field(
        30.0, description="predictions of the last this many days are joined to labels (labels arrive late)"
    )
    min_labelled_rows: Annotated[int, Field(ge=1)] = 100
    max_bad_label_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1


class Params(StrictModel):
    seed: int = 42
    task: TaskType = "binary"
    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    features: FeatureParams = FeatureParams()
    model: ModelParams = Field(default_factory=ModelParams)
    evaluate: EvaluateParams = EvaluateParams()
    mlflow: MlflowParams = MlflowParams()
    compare: CompareParams = CompareParams()
    serving: ServingParams = ServingParams()
    monitor: MonitorParams = MonitorParams()

    @model_validator(mode="after")
    def _roles_differ(self) -> Params:
        if self.data.target == self.data.id_column:
            raise ValueError("data.target and data.id_column must name different columns")
        return self


def format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid parameters ({err.error_count()} problem(s)):"]
    for e in err.errors():
        key = ".".join(str(part) for part in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown key (check the spelling; see params.yaml comments)")
        elif e["type"] == "missing":
            lines.append(f"  - {key}: required key is missing")
        else:
            lines.append(f"  - {key}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_params(raw: Any, origin: str = "params.yaml") -> Params:
    """Validate an already-parsed mapping; raise :class:`ConfigError` naming each bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, origin)) from None


def load_params(path: str | Path = DEFAULT_PARAMS_PATH) -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run from the repository root)") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, origin=str(path))
