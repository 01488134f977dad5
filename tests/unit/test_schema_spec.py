from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.config import ConfigError
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec, draft_spec, dump_spec, load_spec, validate


def _spec() -> SchemaSpec:
    return SchemaSpec(
        min_rows=2,
        columns={
            "id": ColumnSpec(dtype="int64", unique=True),
            "x": ColumnSpec(dtype="float64", min=0, max=10),
            "target": ColumnSpec(dtype="int64", allowed=[0, 1]),
        },
    )


def test_valid_frame_passes_and_ints_coerce_to_float() -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "x": [1, 2, 3], "target": [0, 1, 0]})
    out, report = validate(frame, _spec())
    assert report.ok
    assert out is not None
    assert out["x"].dtype == "float64"
    assert "passed" in report.to_markdown()


def test_every_failing_check_is_collected() -> None:
    frame = pd.DataFrame({"id": [1, 2, 2], "x": [-1.0, 2.0, 11.0], "target": [0, 5, 1], "extra": [1, 1, 1]})
    _, report = validate(frame, _spec())
    found = {(f.column, f.check) for f in report.failures}
    assert ("extra", "unexpected column") in found
    assert any(c == "x" and k.startswith("in_range(") for c, k in found)
    assert any(c == "target" and "isin" in k for c, k in found)
    assert any(c == "id" and "unique" in k for c, k in found)
    md = report.to_markdown()
    assert "FAILED" in md
    assert "| extra | unexpected column |" in md


def test_spec_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    dump_spec(_spec(), path, "# header\n")
    assert load_spec(path) == _spec()
    path.write_text("columns:\n  x: {dtype: float64, maxx: 3}\n")
    with pytest.raises(ConfigError, match=r"columns\.x\.maxx: unknown key"):
        load_spec(path)
    with pytest.raises(ConfigError, match="make schema"):
        load_spec(tmp_path / "missing.yaml")


def test_inferred_spec_accepts_its_data_and_types_columns() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "id": np.arange(50),
            "x": rng.normal(5, 1, 50),
            "n": rng.integers(0, 9, 50),
            "flag": rng.random(50) < 0.5,
            "colour": rng.choice(["red", "blue"], 50),
            "maybe": np.where(rng.random(50) < 0.2, np.nan, 1.0),
            "target": rng.integers(0, 3, 50),
        }
    )
    spec = draft_spec(frame, "target", "id").spec
    assert spec.columns["id"].unique
    assert spec.columns["flag"].dtype == "bool"
    assert spec.columns["colour"].dtype == "str"
    assert spec.columns["colour"].allowed == ["blue", "red"]
    assert spec.columns["maybe"].nullable
    assert spec.columns["target"].allowed == [0, 1, 2]
    assert spec.columns["x"].min is not None
    assert spec.columns["x"].min <= frame["x"].min()
    _, report = validate(frame, spec)
    assert report.ok, report.to_markdown()
