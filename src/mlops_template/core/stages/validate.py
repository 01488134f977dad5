"""DVC stage ``validate``: check data/raw against THE schema (data/schema.yaml); write the report."""

import sys

import pandas as pd

from mlops_template.core import paths
from mlops_template.core.config import load_params
from mlops_template.core.data.schema import load_spec, task_failures, validate
from mlops_template.core.stages import StageFailed, log, run, write_json


def main() -> None:
    params = load_params()
    spec = load_spec(params.data.schema_path)
    frame = pd.read_parquet(paths.RAW_DATA)
    _, report = validate(frame, spec)
    report.failures += task_failures(frame, params.data.target, params.task)
    write_json(paths.VALIDATION_REPORT_JSON, report.to_dict())
    paths.VALIDATION_REPORT_MD.write_text(report.to_markdown(), encoding="utf-8")
    if not report.ok:
        print(report.to_markdown(), file=sys.stderr)
        raise StageFailed(
            f"data does not match {params.data.schema_path}; nothing downstream was run, "
            f"the last good model and metrics are untouched (report: {paths.VALIDATION_REPORT_MD})"
        )
    log("validate", report.to_markdown().strip())


if __name__ == "__main__":
    run("validate", main)
