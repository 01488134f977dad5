"""DVC stage ``split``: seeded, stratified train/test split of the validated data."""

import pandas as pd

from mlops_template.core import paths
from mlops_template.core.config import load_params
from mlops_template.core.data.schema import coerce, load_spec
from mlops_template.core.data.split import split_frame
from mlops_template.core.stages import log, run


def main() -> None:
    params = load_params()
    spec = load_spec(params.data.schema_path)
    frame = coerce(pd.read_parquet(paths.RAW_DATA), spec)
    stratify = params.split.stratify and params.task != "regression"
    train, test = split_frame(frame, params.data.target, params.split.test_size, params.seed, stratify)
    paths.TRAIN_DATA.parent.mkdir(parents=True, exist_ok=True)
    train.to_parquet(paths.TRAIN_DATA, index=False)
    test.to_parquet(paths.TEST_DATA, index=False)
    log("split", f"train {len(train)} rows, test {len(test)} rows (stratified: {stratify}, seed {params.seed})")


if __name__ == "__main__":
    run("split", main)
