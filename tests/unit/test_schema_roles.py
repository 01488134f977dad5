"""Schema drafting on a raw, messy table: roles, review comments, missing labels, and what each role does
downstream (the features pipeline, the serving request type)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops_template.core.config import parse_params
from mlops_template.core.data.extract import drop_missing_labels
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec, draft_spec, dump_spec, load_spec, validate
from mlops_template.core.features import build_preprocessor
from mlops_template.core.model import build_pipeline
from mlops_template.ops.serving.validation import record_type, validate_records
from tests.integration.datasets import messy_animal_frame
from tests.support import REPO_ROOT

TARGET, ID = "Outcome (30 days)", "Animal ID"


@pytest.fixture(scope="module")
def messy() -> pd.DataFrame:
    return messy_animal_frame()


@pytest.fixture(scope="module")
def draft(messy: pd.DataFrame):
    return draft_spec(messy, TARGET, ID, task="binary", drop_missing_labels=True)


def test_each_kind_of_column_gets_its_role(draft) -> None:
    roles = {name: col.role for name, col in draft.spec.columns.items()}
    assert roles == {
        "Animal ID": "identifier",
        "Visit date": "ignored",
        "Weight (kg)": "feature",
        "Body temp (°C)": "feature",
        "Breed": "feature",
        "Housed indoors": "feature",
        "Feed supplier": "feature",
        "Farm": "ignored",
        "Vet comments": "ignored",
        "Outcome (30 days)": "feature",
    }
    cols = draft.spec.columns
    assert not cols["Animal ID"].unique  # several visits per animal: not a row key, and no false failure
    for name in ("Visit date", "Vet comments", "Animal ID"):
        assert cols[name].allowed is None, name  # never a closed category list
    assert cols["Breed"].allowed == ["Angus", "Hereford", "Holstein", "Jersey"]
    features = ["Weight (kg)", "Body temp (°C)", "Breed", "Housed indoors", "Feed supplier"]
    assert draft.spec.feature_columns(TARGET, ID) == features
    # four suppliers seen once: the list seen is incomplete, so an open category (a new supplier is valid)
    assert cols["Feed supplier"].open and cols["Feed supplier"].allowed is None
    assert "values seen only once or twice" in draft.notes["Feed supplier"][0]


def test_id_like_columns_other_than_the_id_column_are_detected() -> None:
    n = 200
    frame = pd.DataFrame(
        {
            "row": np.arange(n),
            "order_id": np.arange(1000, 1000 + n),
            "sku": [f"SKU{i:06d}x" for i in np.random.default_rng(0).permutation(n)],
            "price": np.linspace(1, 50, n),
            "y": np.arange(n) % 2,
        }
    )
    cols = draft_spec(frame, "y", "row").spec.columns
    assert cols["order_id"].role == "identifier" and cols["order_id"].unique
    assert cols["sku"].role == "identifier"
    assert cols["price"].role == "feature"  # unique floats are measurements, not keys


def test_every_decision_is_a_comment_in_the_written_file(draft, tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    dump_spec(draft.spec, path, "# header\n", draft.notes)
    text = path.read_text(encoding="utf-8")
    assert load_spec(path) == draft.spec
    lines = text.splitlines()
    for name in draft.spec.columns:
        at = lines.index(f"  {name}:")
        assert lines[at - 1].startswith("  # "), f"no review comment above {name}"
    assert "# ignored: free text" in text
    assert "# ignored: constant (every row is 'Hillside')" in text
    assert "# ignored: dates/timestamps" in text and "role: date" in text
    assert re.search(r"# \d+ of 400 rows have no label", text)


def test_missing_labels_are_counted_and_either_dropped_or_rejected(messy: pd.DataFrame, draft) -> None:
    missing = int(messy[TARGET].isna().sum())
    assert missing > 0 and draft.missing_labels == missing
    kept, dropped = drop_missing_labels(messy, TARGET)
    assert dropped == missing and len(kept) == len(messy) - missing
    assert validate(kept, draft.spec)[1].ok
    _, report = validate(messy, draft.spec)  # data.missing_labels: error -> validation names the target
    assert any(f.column == TARGET and "nullable" in f.check for f in report.failures), report.to_markdown()


def test_the_model_sees_only_feature_columns(messy: pd.DataFrame, draft) -> None:
    kept, _ = drop_missing_labels(messy, TARGET)
    params = parse_params({"data": {"target": TARGET, "id_column": ID}})
    pipe = build_pipeline(params, draft.spec).fit(kept, kept[TARGET])
    used = {c for name, _, cols in pipe.named_steps["features"].transformers_ if name != "remainder" for c in cols}
    assert used == set(draft.spec.feature_columns(TARGET, ID))
    with pytest.raises(ValueError, match="Vet comments"):
        build_preprocessor(draft.spec, ["Weight (kg)", "Vet comments"], params.features)


def test_date_role_gives_year_month_weekday_features() -> None:
    spec = SchemaSpec(
        columns={
            "when": ColumnSpec(dtype="str", role="date", nullable=True),
            "y": ColumnSpec(dtype="int64", allowed=[0, 1]),
        }
    )
    frame = pd.DataFrame({"when": ["2024-01-01", "2024-06-15T10:00:00", None, "2023-12-31"], "y": [0, 1, 0, 1]})
    assert validate(frame, spec)[1].ok
    pre = build_preprocessor(spec, ["when"], parse_params({"features": {"scaler": "none"}}).features)
    out = pre.fit_transform(frame[["when"]])
    assert list(pre.get_feature_names_out()) == ["when_year", "when_month", "when_weekday"]
    assert out[0].tolist() == [2024.0, 1.0, 0.0] and out[1].tolist() == [2024.0, 6.0, 5.0]
    _, report = validate(frame.assign(when=["not a date", "2024-01-01", None, "x"]), spec)
    assert any(f.column == "when" and "date" in f.check for f in report.failures)


def test_a_request_may_carry_ignored_and_identifier_columns_with_any_value(draft) -> None:
    features = draft.spec.feature_columns(TARGET, ID)
    record = record_type(draft.spec, features)
    good = {"Weight (kg)": 400.0, "Body temp (°C)": 38.5, "Breed": "Angus", "Housed indoors": True}
    good["Feed supplier"] = "a supplier never seen before"  # an open category: any value
    new_values = {
        "Vet comments": "a comment never seen before",
        "Visit date": "2031-02-03",
        "Animal ID": 7,
        "Farm": None,
    }
    assert validate_records(record, [good, {**good, **new_values}])[1]["Vet comments"].startswith("a comment")
    with pytest.raises(ValidationError):  # features keep their rules; unknown fields are still errors
        validate_records(record, [{**good, "Breed": "Unicorn"}])
    with pytest.raises(ValidationError):
        validate_records(record, [{**good, "surprise": 1}])


def test_unit_tests_never_read_the_projects_files() -> None:
    """The template's own tests use tests/fixtures, so a fork can change params.yaml, the schema and data."""
    project = re.compile(r"""REPO_ROOT\s*/\s*["'](params\.yaml|data/)|load_params\(\)|["']data/schema\.yaml["']""")
    offenders = [
        p.name
        for p in (REPO_ROOT / "tests/unit").glob("*.py")
        if p.name != Path(__file__).name and project.search(p.read_text())
    ]
    assert not offenders, f"unit tests reading the project's params/schema/data: {offenders}"


def with_field_notes(frame: pd.DataFrame, non_null: int = 54, seed: int = 3) -> pd.DataFrame:
    """A comment column holding 10 distinct sentences among ``non_null`` values, the rest missing."""
    rng = np.random.default_rng(seed)
    sentences = [f"Nest never observed with full clutch, count {i}." for i in range(10)]
    notes: list[str | None] = [None] * len(frame)
    for row in rng.choice(len(frame), non_null, replace=False):
        notes[row] = sentences[rng.integers(10)]
    return frame.assign(**{"Field notes": notes})


def test_text_and_rarely_seen_values_are_drafted_as_open_categories(messy: pd.DataFrame, tmp_path: Path) -> None:
    """A closed list only where the values seen look complete: sentences, long strings, values seen once or
    twice or too many values make an open category (a new value is valid, and is drift); the comment says why."""
    rng = np.random.default_rng(0)
    frame = with_field_notes(messy).assign(
        Pen=rng.choice([f"pen {i}" for i in range(6)], len(messy)),  # each seen ~60 times: closed
        Supplier=["Acme"] * (len(messy) - 2) + ["Brand new farm supply", "Zed"],  # two values seen once: open
    )
    draft = draft_spec(frame, TARGET, ID, drop_missing_labels=True)
    cols, notes = draft.spec.columns, draft.notes
    assert cols["Field notes"] == ColumnSpec(dtype="str", nullable=True, open=True)
    assert notes["Field notes"][0].startswith("feature: open category: text (sentences of ~8 words, 10 distinct")
    assert cols["Vet comments"].role == "ignored" and "free text" in notes["Vet comments"][0]
    assert cols["Supplier"].open and "2 of its 3 values seen only once or twice" in notes["Supplier"][0]
    assert cols["Pen"].allowed == [f"pen {i}" for i in range(6)] and not cols["Pen"].open
    assert notes["Pen"][0].startswith("feature: closed category: 6 values")
    assert cols["Breed"].allowed and "closed category" in notes["Breed"][0]
    path = tmp_path / "schema.yaml"
    dump_spec(draft.spec, path, "", notes)
    text = path.read_text(encoding="utf-8")
    assert load_spec(path) == draft.spec
    assert "  # feature: open category: text" in text and "    open: true" in text
    # the drafted schema accepts its data, and a new sentence from a client is a valid request
    kept, _ = drop_missing_labels(frame, TARGET)
    assert validate(kept, draft.spec)[1].ok
    features = draft.spec.feature_columns(TARGET, ID)
    record = {f: kept[f].iloc[0] for f in features} | {"Field notes": "A sentence nobody wrote before."}
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    assert validate_records(record_type(draft.spec, features), [record])
