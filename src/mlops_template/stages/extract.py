"""DVC stage ``extract``: data.source -> data/raw/data.parquet (unvalidated)."""

from mlops_template import paths
from mlops_template.config import load_params
from mlops_template.data.extract import extract
from mlops_template.stages import log, run


def main() -> None:
    params = load_params()
    d = params.data
    frame = extract(d.source, d.format, d.target, d.id_column)
    paths.RAW_DATA.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(paths.RAW_DATA, index=False)
    log("extract", f"{len(frame)} rows x {frame.shape[1]} columns from {d.source} -> {paths.RAW_DATA}")


if __name__ == "__main__":
    run("extract", main)
