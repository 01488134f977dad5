"""Drift monitor statistics and I/O on synthetic data (own fixtures; never the project's files)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_template.cli import main as mlops
from mlops_template.core.config import MonitorParams
from mlops_template.core.data.schema import ColumnSpec, SchemaSpec
from mlops_template.core.profile import build_profile
from mlops_template.ops.monitoring.drift import compare
from mlops_template.ops.serving.predlog import log_lines

SPEC = SchemaSpec(
    columns={
        "id": ColumnSpec(dtype="int64", unique=True),
        "x_normal": ColumnSpec(dtype="float64"),
        "x_skewed": ColumnSpec(dtype="float64", nullable=True),
        "n_items": ColumnSpec(dtype="int64"),
        "city": ColumnSpec(dtype="str"),
        "member": ColumnSpec(dtype="bool"),
        "label": ColumnSpec(dtype="int64"),
    }
)
FEATURES = SPEC.feature_columns("label", "id")
CITIES = ["paris", "rome", "oslo", "lima"]
CITY_P = [0.4, 0.3, 0.2, 0.1]


def population(n: int, seed: int) -> pd.DataFrame:
    """One draw of the 'training distribution' (mixed kinds, some missing values)."""
    rng = np.random.default_rng(seed)
    skewed = rng.lognormal(0.0, 0.8, n)
    skewed[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "x_normal": rng.normal(10.0, 2.0, n),
            "x_skewed": skewed,
            "n_items": rng.poisson(3.0, n),
            "city": rng.choice(CITIES, n, p=CITY_P),
            "member": rng.random(n) < 0.3,
            "label": rng.integers(0, 2, n),
        }
    )


PARAMS = MonitorParams(min_rows=50)


@pytest.fixture(scope="module")
def profile() -> dict:
    return build_profile(population(2000, seed=1), SPEC, FEATURES, bins=10)


def test_profile_covers_only_the_schema_features(profile: dict) -> None:
    assert profile["features"] == ["x_normal", "x_skewed", "n_items", "city", "member"]
    assert profile["columns"]["x_normal"]["kind"] == "numeric"
    assert sum(profile["columns"]["x_normal"]["counts"]) == 2000
    assert profile["columns"]["x_skewed"]["missing"] > 0
    assert profile["columns"]["city"]["counts"].keys() == set(CITIES)
    assert profile["columns"]["member"]["counts"].keys() == {"True", "False"}
    # discrete values: edges collapse to the distinct quantiles, no empty bins on the training data itself
    assert 0 not in profile["columns"]["n_items"]["counts"]


def test_held_out_slices_of_the_training_distribution_raise_no_alarm(profile: dict) -> None:
    """False alarms over 60 independent windows: per feature below 2 %, never a retraining trigger."""
    feature_alarms = window_alarms = 0
    for seed in range(100, 160):
        result = compare(profile, population(300, seed), PARAMS)
        feature_alarms += len(result.drifted)
        window_alarms += result.drift
    assert feature_alarms / (60 * len(FEATURES)) < 0.02
    assert window_alarms == 0


def _shifted(kind: str, seed: int = 7) -> tuple[pd.DataFrame, list[str]]:
    frame = population(300, seed)
    if kind == "shift":
        frame["x_normal"] += 2.0  # one standard deviation
        frame["n_items"] += 2
        return frame, ["x_normal", "n_items"]
    if kind == "rescale":
        frame["x_skewed"] *= 3.0
        frame["x_normal"] = 10.0 + (frame["x_normal"] - 10.0) * 2.5  # same mean, wider
        return frame, ["x_skewed", "x_normal"]
    if kind == "category_swap":
        frame["city"] = frame["city"].map({"paris": "lima", "lima": "paris", "rome": "oslo", "oslo": "rome"})
        frame["member"] = ~frame["member"]
        return frame, ["city", "member"]
    if kind == "new_category":
        frame.loc[frame.index[: len(frame) // 4], "city"] = "tokyo"
        return frame, ["city"]
    if kind == "missing":
        frame.loc[frame.index[: len(frame) // 2], "x_normal"] = np.nan
        return frame, ["x_normal"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["shift", "rescale", "category_swap", "new_category", "missing"])
def test_drift_is_detected(profile: dict, kind: str) -> None:
    frame, changed = _shifted(kind)
    result = compare(profile, frame, PARAMS)
    assert sorted(f.feature for f in result.drifted) == sorted(changed)
    assert result.drift_share == pytest.approx(len(changed) / len(FEATURES))
    if kind == "new_category":
        city = next(f for f in result.features if f.feature == "city")
        assert city.new_values == {"tokyo": 75}


def test_a_feature_missing_from_the_log_drifts(profile: dict) -> None:
    result = compare(profile, population(300, 3).drop(columns=["city"]), PARAMS)
    city = next(f for f in result.features if f.feature == "city")
    assert city.drifted and city.note


# ----------------------------------------------------------------------------- the command


def write_log(path: Path, frame: pd.DataFrame, extra: str = "", ts_offset_hours: float = 0.0) -> None:
    records = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None).to_dict("records")
    text = log_lines("predict", "model:v1", records, [0] * len(records), [0.5] * len(records))
    if ts_offset_hours:
        old = (datetime.now(UTC) - timedelta(hours=ts_offset_hours)).isoformat()
        text = "".join(json.dumps({**json.loads(line), "ts": old}) + "\n" for line in text.splitlines())
    path.write_text(text + extra, encoding="utf-8")


@pytest.fixture
def workdir(tmp_path: Path, profile: dict) -> Path:
    (tmp_path / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    (tmp_path / "params.yaml").write_text("monitor:\n  min_rows: 50\n  window_hours: 24\n", encoding="utf-8")
    return tmp_path


def run_monitor(workdir: Path, log: Path, *extra: str) -> tuple[int, dict]:
    out = workdir / "out"
    code = mlops(
        [
            "monitor",
            "--log",
            str(log),
            "--profile",
            str(workdir / "profile.json"),
            "--out",
            str(out),
            "--params",
            str(workdir / "params.yaml"),
            *extra,
        ]
    )
    return code, json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_drift_exit_code_report_and_images(workdir: Path) -> None:
    frame, _ = _shifted("shift")
    write_log(workdir / "log.jsonl", frame, extra='not json\n{"inputs": 3}\n')
    code, summary = run_monitor(workdir, workdir / "log.jsonl")
    assert (code, summary["status"], summary["retrain"]) == (3, "drift", True)
    assert summary["window"]["malformed"] == 2 and summary["window"]["rows"] == 300
    assert sorted(p.name for p in (workdir / "out").glob("*.png")) == ["drift-n_items.png", "drift-x_normal.png"]
    report = (workdir / "out" / "drift.md").read_text(encoding="utf-8")
    assert "DRIFT" in report and "x_normal" in report and "unreadable and skipped: 2" in report
    assert run_monitor(workdir, workdir / "log.jsonl", "--exit-zero")[0] == 0


def test_no_drift_exit_zero(workdir: Path) -> None:
    write_log(workdir / "log.jsonl", population(300, 11))
    code, summary = run_monitor(workdir, workdir / "log.jsonl")
    assert (code, summary["status"], summary["drifted_features"]) == (0, "ok", [])
    assert not list((workdir / "out").glob("*.png"))


def test_too_few_rows_and_an_empty_window_give_no_verdict(workdir: Path) -> None:
    write_log(workdir / "few.jsonl", population(20, 11))
    code, summary = run_monitor(workdir, workdir / "few.jsonl")
    assert (code, summary["status"]) == (4, "insufficient_data") and "min_rows" in summary["message"]
    write_log(workdir / "old.jsonl", population(300, 11), ts_offset_hours=48)  # outside window_hours: 24
    code, summary = run_monitor(workdir, workdir / "old.jsonl")
    assert (code, summary["status"]) == (4, "insufficient_data") and "empty" in summary["message"]
    assert summary["window"]["outside_window"] == 300
    (workdir / "empty.jsonl").write_text("", encoding="utf-8")
    assert run_monitor(workdir, workdir / "empty.jsonl")[0] == 4


def test_errors_exit_one_with_a_message(workdir: Path) -> None:
    code, summary = run_monitor(workdir, workdir / "nope.jsonl")
    assert (code, summary["status"]) == (1, "error") and "no such file" in summary["message"]
    (workdir / "junk.jsonl").write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    code, summary = run_monitor(workdir, workdir / "junk.jsonl", "--exit-zero")
    assert (code, summary["status"]) == (1, "error") and "unreadable" in summary["message"]
    (workdir / "profile.json").unlink()
    write_log(workdir / "log.jsonl", population(300, 11))
    code, summary = run_monitor(workdir, workdir / "log.jsonl")
    assert code == 1 and "make repro" in summary["message"]


def test_rotated_logs_are_read_through_a_glob(workdir: Path) -> None:
    (workdir / "logs").mkdir()
    write_log(workdir / "logs" / "a.jsonl", population(100, 21))
    write_log(workdir / "logs" / "b.jsonl", population(100, 22))
    code, summary = run_monitor(workdir, workdir / "logs" / "*.jsonl")
    assert (code, summary["window"]["rows"], len(summary["window"]["files"])) == (0, 200, 2)


def test_an_unconfigured_log_skips_with_a_notice_instead_of_failing_daily(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new repository (from the template) has no PREDICTION_LOG_URL: the scheduled monitor says how to set
    it (notice, job summary via `make monitor-summary`) and exits 0; a configured but missing log still fails."""
    import subprocess

    from tests.support import REPO_ROOT

    monkeypatch.delenv("PREDICTION_LOG", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(workdir / "output"))
    out = workdir / "out"
    args = ["--profile", str(workdir / "profile.json"), "--out", str(out), "--params", str(workdir / "params.yaml")]
    assert mlops(["monitor", *args, "--exit-zero", "--skip-unconfigured"]) == 0
    assert capsys.readouterr().out.startswith("::notice title=drift monitor skipped::")
    assert "status=unconfigured" in (workdir / "output").read_text(encoding="utf-8")
    assert not (out / "summary.json").exists() and "PREDICTION_LOG_URL" in (out / "skipped.md").read_text()
    summary = workdir / "summary.md"
    subprocess.run(
        ["make", "--no-print-directory", "monitor-summary", f"MONITOR_OUT={out}"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)},
        check=True,
    )
    assert "Drift monitor: skipped" in summary.read_text(encoding="utf-8")
    # an empty PREDICTION_LOG (the workflow's `inputs.log || vars.PREDICTION_LOG_URL` with neither) is unset
    monkeypatch.setenv("PREDICTION_LOG", "")
    assert mlops(["monitor", *args, "--skip-unconfigured"]) == 0
    # configured: the flag changes nothing, a missing log is an error
    monkeypatch.setenv("PREDICTION_LOG", str(workdir / "nope.jsonl"))
    assert mlops(["monitor", *args, "--exit-zero", "--skip-unconfigured"]) == 1
