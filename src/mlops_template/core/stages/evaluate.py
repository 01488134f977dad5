"""DVC stage ``evaluate``: test-set metrics, their bootstrap standard errors, plots (data + PNG) and per-row
predictions."""

import pandas as pd

from mlops_template.core import paths
from mlops_template.core.config import load_params
from mlops_template.core.metrics import metrics_of, predict, standard_errors
from mlops_template.core.model_card import load_training_run
from mlops_template.core.model_io import load_model
from mlops_template.core.plots import write_plots
from mlops_template.core.stages import log, run, write_json
from mlops_template.core.tracking import local_logging_skipped, log_evaluation


def main() -> None:
    params = load_params()
    d = params.data
    model = load_model()
    test = pd.read_parquet(paths.TEST_DATA)
    preds = predict(model, test, d.target, d.id_column, params.evaluate.threshold)
    metrics = metrics_of(params.task, preds)
    write_json(paths.METRICS, metrics)
    # how much the test metrics would vary on another test set of this size: the live-performance check allows
    # for it (ops/monitoring/performance.py); the gate's resampling settings
    resamples = params.compare.bootstrap_resamples
    errors = standard_errors(params.task, preds, resamples, params.seed)
    write_json(paths.TEST_UNCERTAINTY, {"rows": len(test), "resamples": resamples, "standard_errors": errors})
    paths.PREDICTIONS.parent.mkdir(parents=True, exist_ok=True)
    preds.to_frame().to_csv(paths.PREDICTIONS, index=False)
    written = write_plots(params.task, preds, paths.PLOTS_DIR, params.evaluate.calibration_bins)
    log("evaluate", "test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

    # absent when the model came from a DVC remote, or train did not log it (pr-report): nothing to add to
    training = None if local_logging_skipped() else load_training_run()
    if training is not None:
        run_id = training.run_id
        try:
            log_evaluation(params.mlflow, run_id, metrics, [str(p) for p in written if p.suffix == ".png"])
        except Exception as err:
            log("evaluate", f"warning: could not add test metrics to MLflow run {run_id}: {err}")


if __name__ == "__main__":
    run("evaluate", main)
