"""The Evidently side of benchmarks/bench_drift.py, run in this folder's own environment (pyproject.toml here).

    uv run --project benchmarks/evidently --frozen python benchmarks/evidently/drift_worker.py DIR

DIR holds reference.parquet and windows.parquet (a ``__case`` column names the reference each window is
compared with, a ``__window`` column numbers the windows) and columns.json ({case: {"numerical": [...],
"categorical": [...]}}). For every window and column it applies Evidently 0.7's default
data-drift test: the test ``DataDriftPreset`` picks (``get_stattest`` with no method given: reference <= 1000
rows: K-S p < 0.05 for numeric, chi-square / z-test for categorical; larger: normed Wasserstein >= 0.1 for
numeric, Jensen-Shannon >= 0.1 for categorical) with its default threshold, called directly because a
``Report`` costs ~1.5 s per window. The first windows are also run through ``Report([DataDriftPreset()])`` and
must give the same scores, else this exits 1. Prints JSON: {"evidently": version, "results": {window:
{column: [drifted, score, method]}}, "checked_against_preset": n}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import evidently
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from evidently.presets import DataDriftPreset

CHECKED = 3  # windows also run through the preset itself


def column_drift(ref: pd.Series, cur: pd.Series, kind: ColumnType) -> tuple[bool, float, str]:
    ref, cur = ref.dropna(), cur.dropna()
    test = get_stattest(ref, cur, kind, None)
    result = test(ref, cur, kind.value, None)
    return bool(result.drifted), float(result.drift_score), test.display_name


def strings(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categories as Python strings (booleans too), as the monitor's profile keys them."""
    for c in categorical:
        frame[c] = frame[c].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    return frame


def preset_scores(reference: pd.DataFrame, window: pd.DataFrame, definition: DataDefinition) -> dict[str, float]:
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(window, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    return {
        m["config"]["column"]: float(m["value"])
        for m in snapshot.dict()["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }


def main(folder: Path) -> None:
    columns = json.loads((folder / "columns.json").read_text())
    kinds = {
        case: {c: ColumnType.Numerical for c in cols["numerical"]}
        | {c: ColumnType.Categorical for c in cols["categorical"]}
        for case, cols in columns.items()
    }
    references = {
        case: strings(ref[list(kinds[case])].reset_index(drop=True), columns[case]["categorical"])
        for case, ref in pd.read_parquet(folder / "reference.parquet").groupby("__case")
    }
    windows = pd.read_parquet(folder / "windows.parquet")
    results: dict[str, dict[str, list]] = {}
    first_synthetic = windows.loc[windows["__case"] == "synthetic", "__window"].min()
    for i, (key, window) in enumerate(windows.groupby("__window", sort=True)):
        case = window["__case"].iloc[0]
        reference = references[case]
        window = strings(window[list(kinds[case])].reset_index(drop=True), columns[case]["categorical"])
        results[str(key)] = {c: list(column_drift(reference[c], window[c], kind)) for c, kind in kinds[case].items()}
        if i < CHECKED or key == first_synthetic:
            definition = DataDefinition(
                numerical_columns=columns[case]["numerical"], categorical_columns=columns[case]["categorical"]
            )
            preset = preset_scores(reference, window, definition)
            for c, (_, score, _) in results[str(key)].items():
                if abs(preset[c] - score) > 1e-9:
                    raise SystemExit(f"window {key}, column {c}: preset score {preset[c]} != direct {score}")
    json.dump(
        {
            "evidently": evidently.__version__,
            "results": results,
            "checked_against_preset": min(CHECKED, len(results)) + 1,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
