"""DVC stage ``profile``: the reference profile of the training split, read by the drift monitor."""

import pandas as pd

from mlops_template.core import paths
from mlops_template.core.config import load_params
from mlops_template.core.data.schema import load_spec
from mlops_template.core.profile import build_profile
from mlops_template.core.stages import StageFailed, log, run, write_json


def main() -> None:
    params = load_params()
    spec = load_spec(params.data.schema_path)
    train = pd.read_parquet(paths.TRAIN_DATA)
    features = spec.feature_columns(params.data.target, params.data.id_column)
    try:
        profile = build_profile(train, spec, features, params.monitor.bins)
    except ValueError as err:
        raise StageFailed(str(err)) from None
    write_json(paths.REFERENCE_PROFILE, profile)
    kinds = [c["kind"] for c in profile["columns"].values()]
    log(
        "profile",
        f"{paths.REFERENCE_PROFILE}: {len(train)} rows, {kinds.count('numeric')} numeric and "
        f"{kinds.count('categorical')} categorical features, {params.monitor.bins} bins",
    )


if __name__ == "__main__":
    run("profile", main)
