"""DVC stage ``train``: fit the sklearn Pipeline named in params; log it to MLflow with its lineage."""

from typing import Any

import pandas as pd
import sklearn

from mlops_template.core import paths
from mlops_template.core.config import Params, load_params
from mlops_template.core.data.schema import load_spec
from mlops_template.core.lineage import file_md5, git_sha
from mlops_template.core.metrics import metrics_of, predict
from mlops_template.core.model import build_pipeline
from mlops_template.core.model_card import DataLineage, ModelCard, TrainingRun
from mlops_template.core.model_io import save_model
from mlops_template.core.stages import StageFailed, log, run
from mlops_template.core.tracking import local_logging_skipped, log_training_run, tracking_uri


def main() -> None:
    params = load_params()
    spec = load_spec(params.data.schema_path)
    d = params.data
    train = pd.read_parquet(paths.TRAIN_DATA)
    features = spec.feature_columns(d.target, d.id_column)
    pipeline = build_pipeline(params, spec)
    log("train", f"fitting {params.model.type} ({params.task}) on {len(train)} rows, {len(features)} features")
    pipeline.fit(train[features], train[d.target])
    train_metrics = metrics_of(params.task, predict(pipeline, train, d.target, d.id_column, params.evaluate.threshold))

    hyper = params.model.selected().model_dump()
    data = DataLineage(data_md5=file_md5(paths.RAW_DATA), data_source=d.source)
    sha = git_sha()
    skip = local_logging_skipped()
    mlflow_info = None if skip else _log_to_mlflow(params, pipeline, train[features], train_metrics, data, sha)
    classes = getattr(pipeline, "classes_", None)
    # Only what code, params and data determine: this file is a DVC output, so two clean runs must write the
    # same bytes. The run id and git SHA go to MLflow tags and the (git-ignored) training-run record.
    card = ModelCard(
        task=params.task,
        target=d.target,
        id_column=d.id_column,
        features=features,
        classes=[c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None,
        model_type=params.model.type,
        hyperparameters=hyper,
        seed=params.seed,
        threshold=params.evaluate.threshold,
        train_rows=len(train),
        train_metrics=train_metrics,
        sklearn_version=sklearn.__version__,
        data=data,
    )
    save_model(pipeline, card)
    log("train", f"train metrics {train_metrics}")
    if mlflow_info is None:
        log("train", "MLflow: not logged (pr-report, no MLFLOW_TRACKING_URI: nothing reads the local run)")
        return
    TrainingRun(**mlflow_info, git_sha=sha, model_md5=file_md5(paths.MODEL)).write()
    log("train", f"MLflow run {mlflow_info['run_id']} at {mlflow_info['tracking_uri']}")


def _log_to_mlflow(
    params: Params, pipeline: Any, x: pd.DataFrame, train_metrics: dict[str, float], data: DataLineage, sha: str
) -> dict[str, str]:
    """Log the training run with its model (``tracking.log_training_run``); a failure stops the stage."""
    hyper = params.model.selected().model_dump()
    try:
        return log_training_run(
            params.mlflow,
            run_params={
                "model.type": params.model.type,
                "task": params.task,
                "seed": params.seed,
                **{f"model.{params.model.type}.{k}": v for k, v in hyper.items()},
            },
            metrics={f"train_{k}": v for k, v in train_metrics.items()},
            tags={"git_sha": sha, "data_md5": data.data_md5, "stage": "train"},
            model=pipeline,
            input_example=x.head(3),
        )
    except Exception as err:
        raise StageFailed(
            f"MLflow logging to {tracking_uri(params.mlflow)} failed: {type(err).__name__}: {err}. "
            "Check the server, or unset MLFLOW_TRACKING_URI to log to the local mlflow.db."
        ) from None


if __name__ == "__main__":
    run("train", main)
