"""MLflow tracking: offline by default (sqlite file, git-ignored), a real server via MLFLOW_TRACKING_URI."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from mlops_template.core.config import MlflowParams

# `pr-report --repro` sets this to 1 for the candidate's pipeline: with no MLFLOW_TRACKING_URI, the run would go
# to the local mlflow.db, which nothing in a PR check reads (the report links runs on a server only), and
# logging it costs several seconds per stage. Set it to 0 to log anyway; `make repro` never sets it.
SKIP_LOCAL_ENV = "MLOPS_SKIP_LOCAL_MLFLOW"


def tracking_uri(params: MlflowParams) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or params.tracking_uri


def local_logging_skipped() -> bool:
    """True when the stages should not log to the local default store (``SKIP_LOCAL_ENV`` is 1 and no
    ``MLFLOW_TRACKING_URI`` is set: a tracking server is always logged to)."""
    return os.environ.get(SKIP_LOCAL_ENV) == "1" and not os.environ.get("MLFLOW_TRACKING_URI")


def _quiet() -> None:
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")


def log_training_run(
    params: MlflowParams,
    run_params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    model: Any,
    input_example: Any = None,
) -> dict[str, str]:
    """Log one training run with its model; return ``{run_id, experiment_id, tracking_uri, model_uri}``."""
    import mlflow
    import mlflow.sklearn

    _quiet()
    uri = tracking_uri(params)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(params.experiment)
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_params(run_params)
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn", "pandas", "numpy"],
            input_example=input_example,
        )
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": uri,
        "model_uri": info.model_uri,
    }


def log_evaluation(params: MlflowParams, run_id: str, metrics: dict[str, float], artifacts: list[str]) -> None:
    """Add test-set metrics and plot images to the training run."""
    import mlflow

    _quiet()
    mlflow.set_tracking_uri(tracking_uri(params))
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        for path in artifacts:
            mlflow.log_artifact(path, artifact_path="plots")
