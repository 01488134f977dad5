"""DVC stage ``extract``: data.source -> data/raw/data.parquet (unvalidated)."""

from mlops_template.core import paths
from mlops_template.core.config import load_params
from mlops_template.core.data.extract import drop_missing_labels, extract
from mlops_template.core.stages import log, run


def main() -> None:
    params = load_params()
    d = params.data
    frame = extract(d.source, d.format, d.target, d.id_column)
    if d.missing_labels == "drop":
        frame, dropped = drop_missing_labels(frame, d.target)
        if dropped:
            log("extract", f"dropped {dropped} rows without a label in {d.target!r} (data.missing_labels: drop)")
    paths.RAW_DATA.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(paths.RAW_DATA, index=False)
    log("extract", f"{len(frame)} rows x {frame.shape[1]} columns from {d.source} -> {paths.RAW_DATA}")


if __name__ == "__main__":
    run("extract", main)
