"""Where each stage reads and writes, relative to the repository root (DVC runs stages from there).

dvc.yaml names the same paths; keep the two in step.
"""

from pathlib import Path

RAW_DATA = Path("data/raw/data.parquet")
SOURCE_DIR = Path("data/source")
TRAIN_DATA = Path("data/split/train.parquet")
TEST_DATA = Path("data/split/test.parquet")
VALIDATION_REPORT_JSON = Path("reports/validation.json")
VALIDATION_REPORT_MD = Path("reports/validation.md")
MODEL = Path("models/model.joblib")
MODEL_METADATA = Path("models/metadata.json")
METRICS = Path("metrics/metrics.json")
# the test metrics' bootstrap standard errors (evaluate stage): the live-performance check widens its rule by them
TEST_UNCERTAINTY = Path("metrics/test_uncertainty.json")
PREDICTIONS = Path("metrics/predictions.csv")
PLOTS_DIR = Path("plots")
# run-specific facts of the last training run (MLflow run id, git SHA): never a DVC output, so dvc.lock stays
# identical across clean runs
TRAINING_RUN = Path(".cache/run/training_run.json")
RELEASE_RECORD = Path(".cache/release/release.json")  # the registered MLflow version (make release-register)
REFERENCE_PROFILE = Path("models/reference_profile.json")  # DVC stage `profile`, read by the drift monitor
MONITOR_DIR = Path("reports/monitor")  # make monitor: drift.md, summary.json, PNGs
