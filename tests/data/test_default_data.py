"""The default data against THE schema (data/schema.yaml): it passes, and broken copies fail by name."""

from __future__ import annotations

import pandas as pd

from mlops_template.data.schema import SchemaSpec, validate


def test_default_data_passes_the_schema(raw_frame: pd.DataFrame, spec: SchemaSpec) -> None:
    validated, report = validate(raw_frame, spec)
    assert report.ok, report.to_markdown()
    assert validated is not None
    assert len(validated) == len(raw_frame)


def test_out_of_range_value_and_missing_column_are_named(raw_frame: pd.DataFrame, spec: SchemaSpec) -> None:
    broken = raw_frame.drop(columns=["mean_texture"])
    broken.loc[broken.index[:3], "mean_radius"] = -1.0
    _, report = validate(broken, spec)
    named = {(f.column, f.check.split("(")[0]) for f in report.failures}
    assert ("mean_texture", "missing column") in named
    radius = [f for f in report.failures if f.column == "mean_radius"]
    assert radius, report.to_markdown()
    assert radius[0].failing_rows == 3
