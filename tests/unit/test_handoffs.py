"""The files passed between steps (hand-offs): each model reads back what it wrote, reads the files older versions
wrote, and a missing, corrupt or ill-typed file is an error naming the file and the field (own fixtures only)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlops_template.core.handoff import HandOffError
from mlops_template.experiment.baseline import BaselineSource, PinMapEntry, _from_pin_map
from mlops_template.experiment.compare import Comparison, GateResult, MetricComparison
from mlops_template.experiment.comparison_record import COMPARISON_FILE, ComparisonRecord
from mlops_template.experiment.pr_report import gate_from_file
from mlops_template.ops.monitoring import retrain
from mlops_template.ops.monitoring.retrain_state import RetrainState
from mlops_template.ops.serving.record import ReleaseRecord
from mlops_template.ops.serving.store import ServingCheck


def comparison(verdict: str = "improved", passed: bool = True, ci_high: float = 0.05) -> Comparison:
    row = MetricComparison(
        name="roc_auc",
        baseline=0.90,
        candidate=0.93,
        delta=0.03,
        ci_low=0.01,
        ci_high=ci_high,
        higher_is_better=True,
        margin=0.01,
        verdict=verdict,  # type: ignore[arg-type]
    )
    return Comparison(
        paired=True,
        method="test split",
        rows=120,
        primary_metric="roc_auc",
        confidence=0.95,
        resamples=1000,
        valid_resamples=998,
        metrics=[row],
        verdict=verdict,  # type: ignore[arg-type]
        gate=GateResult(passed, [] if passed else ["roc_auc regressed"], ["roc_auc: improved"] if passed else []),
        candidate_metrics={"roc_auc": 0.93, "accuracy": 0.9},
        minimum_detectable=0.02,
    )


def record(**changes: object) -> ComparisonRecord:
    made = ComparisonRecord.of(
        comparison(), base_ref="origin/main", base_sha="a" * 40, candidate_sha="b" * 40, baseline_source="DVC cache"
    )
    return made.model_copy(update=changes)


# ---- comparison.json ------------------------------------------------------------------------------------------


def test_comparison_record_round_trips_through_its_file(tmp_path: Path) -> None:
    written = record()
    written.write_to(tmp_path)
    back = ComparisonRecord.in_folder(tmp_path)
    assert back == written
    assert back.metrics[0] == comparison().metrics[0]  # the comparison's own dataclasses, not dicts
    assert back.gate_lines == ["roc_auc: improved"] and back.passed
    assert gate_from_file(tmp_path / COMPARISON_FILE) == (True, ["roc_auc: improved"])
    assert not list(tmp_path.glob(".*.tmp"))  # written whole, no temporary file left


def test_comparison_record_keeps_a_nan_interval(tmp_path: Path) -> None:
    """A resampled interval can be NaN (no valid resample): it is written as NaN, as json.dumps did, not null."""
    made = ComparisonRecord.of(
        comparison(ci_high=math.nan), base_ref="main", base_sha="a", candidate_sha="b", baseline_source="s"
    )
    made.write_to(tmp_path)
    assert "NaN" in (tmp_path / COMPARISON_FILE).read_text(encoding="utf-8")
    assert math.isnan(ComparisonRecord.in_folder(tmp_path).metrics[0].ci_high)


def test_a_failed_pipeline_record_fails_the_gate(tmp_path: Path) -> None:
    ComparisonRecord.pipeline_failed("origin/main", "c" * 40).write_to(tmp_path)
    passed, lines = gate_from_file(tmp_path / COMPARISON_FILE)
    assert not passed and lines == ["the candidate's pipeline failed (see the report)"]
    assert ComparisonRecord.in_folder(tmp_path).metrics == []


def test_a_comparison_file_of_an_older_version_reads(tmp_path: Path) -> None:
    """Written before candidate_metrics and minimum_detectable existed, with a field this version dropped."""
    old = record().model_dump(mode="json", exclude={"candidate_metrics", "minimum_detectable"})
    old["max_drop"] = 0.05
    (tmp_path / COMPARISON_FILE).write_text(json.dumps(old), encoding="utf-8")
    back = ComparisonRecord.in_folder(tmp_path)
    assert back.candidate_metrics == {} and back.minimum_detectable is None and back.verdict == "improved"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "comparison.json: not found: run `make pr-report` first"),
        ("{not json", "comparison.json: not valid JSON"),
        ('{"base_ref": "main", "candidate_sha": "b", "verdict": "improved"}', "comparison.json: gate: field required"),
        (
            '{"base_ref": "main", "candidate_sha": "b", "verdict": "improved", "gate": {"passed": "perhaps"}}',
            "comparison.json: gate.passed: input should be a valid boolean",
        ),
        (
            '{"base_ref": "main", "candidate_sha": "b", "verdict": "better", "gate": {"passed": true}}',
            "comparison.json: verdict",
        ),
    ],
)
def test_a_bad_comparison_file_names_the_file_and_field(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / COMPARISON_FILE
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(HandOffError) as err:
        gate_from_file(path)
    assert expected in str(err.value) and str(tmp_path) in str(err.value)


# ---- the retraining state and its decision ------------------------------------------------------------------


@pytest.fixture
def retrain_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    (tmp_path / "report.md").write_text("# report\n", encoding="utf-8")
    return tmp_path


def test_retrain_state_round_trips(tmp_path: Path) -> None:
    state = RetrainState(data_changed=True, data_md5_before="a", data_md5_after="b", stale_stages=["x"], changed=True)
    state.write(tmp_path / "state.json")
    assert RetrainState.read(tmp_path / "state.json") == state


def test_decide_proposes_new_data_from_the_typed_files(retrain_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    RetrainState(data_changed=True, data_md5_before="a", data_md5_after="b", changed=True).write(retrain.STATE)
    record(verdict="no detectable change").write_to(retrain_dir)
    assert retrain.decide(retrain_dir / COMPARISON_FILE, retrain_dir / "report.md", "scheduled") == 0
    assert "new data" in capsys.readouterr().err
    assert "md5 b" in retrain.BODY.read_text(encoding="utf-8")


def test_decide_stops_when_nothing_changed(retrain_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    RetrainState(data_changed=False, changed=False).write(retrain.STATE)
    assert retrain.decide(retrain_dir / "absent.json", retrain_dir / "report.md", "scheduled") == 0
    assert "nothing to propose" in capsys.readouterr().err and not retrain.BODY.exists()


def test_decide_says_which_file_and_field_are_bad(retrain_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    retrain.STATE.parent.mkdir(parents=True)
    retrain.STATE.write_text('{"data_changed": "yes please", "changed": true}', encoding="utf-8")
    assert retrain.decide(retrain_dir / COMPARISON_FILE, retrain_dir / "report.md", "scheduled") == 1
    err = capsys.readouterr().err
    assert "reports/retrain/state.json: data_changed: input should be a valid boolean" in err
    assert "`make retrain-data`" in err and "Traceback" not in err

    RetrainState(data_changed=True, changed=True).write(retrain.STATE)
    (retrain_dir / COMPARISON_FILE).write_text('{"base_ref": "main", "verdict": "improved"}', encoding="utf-8")
    assert retrain.decide(retrain_dir / COMPARISON_FILE, retrain_dir / "report.md", "scheduled") == 1
    err = capsys.readouterr().err
    assert "comparison.json: candidate_sha: field required" in err and "gate: field required" in err


# ---- serving_check.json -------------------------------------------------------------------------------------


def test_serving_check_round_trips_and_reads_an_older_file(tmp_path: Path) -> None:
    check = ServingCheck(
        passed=True, tolerance=1e-6, rows=25, max_deviation=3e-8, onnx_dtype="float32", onnx_variant="tensor",
        serving_path="numpy+onnx (float32)", note="ok",
    )  # fmt: skip
    check.write(tmp_path / "serving_check.json")
    assert ServingCheck.read(tmp_path / "serving_check.json") == check
    # a model stored before the variant (and the serving path) were recorded
    (tmp_path / "old.json").write_text('{"tolerance": 1e-06, "passed": true, "onnx_dtype": "float32"}', "utf-8")
    old = ServingCheck.read(tmp_path / "old.json")
    assert (old.onnx_dtype, old.onnx_variant, old.serving_path) == ("float32", "", "")
    assert ServingCheck.read_if_exists(tmp_path / "absent.json") is None


def test_a_bad_serving_check_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "serving_check.json").write_text('{"passed": true, "rows": "many"}', encoding="utf-8")
    with pytest.raises(HandOffError, match=r"serving_check.json: rows: input should be a valid integer"):
        ServingCheck.read(tmp_path / "serving_check.json")
    (tmp_path / "serving_check.json").write_text('{"tolerance": 1e-06}', encoding="utf-8")
    with pytest.raises(HandOffError, match=r"serving_check.json: passed: field required .*`make bento`"):
        ServingCheck.read(tmp_path / "serving_check.json")


# ---- the release record -------------------------------------------------------------------------------------


def test_release_record_merges_typed_fields(tmp_path: Path) -> None:
    path = tmp_path / "release.json"
    assert ReleaseRecord.load(path) == ReleaseRecord()  # none yet: an empty record
    ReleaseRecord.merge(path, version="3", dvc_outs={"models/model.joblib": "m" * 32})
    merged = ReleaseRecord.merge(path, image="reg/repo@sha256:" + "d" * 64)
    assert ReleaseRecord.load(path) == merged and merged.version == "3" and merged.dvc_outs
    with pytest.raises(TypeError, match="release record: no field verison"):
        ReleaseRecord.merge(path, verison="4")
    with pytest.raises(HandOffError, match=r"release.json: version: input should be a valid string"):
        ReleaseRecord.merge(path, version=4)
    assert ReleaseRecord.load(path) == merged  # a refused merge changes nothing


def test_release_record_of_an_older_deployment_reads(tmp_path: Path) -> None:
    """A running deployment's record, written before materialize added the output verdicts; and a field that a
    newer version added is ignored."""
    path = tmp_path / "release.json"
    path.write_text(json.dumps({"version": "2", "image": "r@sha256:x", "deploy_commit": "c", "new_field": 1}), "utf-8")
    old = ReleaseRecord.load(path)
    assert (old.version, old.image, old.outputs, old.model_verdict) == ("2", "r@sha256:x", {}, None)


def test_a_corrupt_release_record_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "release.json"
    path.write_text('{"version": "2", "dvc_outs": ["models/model.joblib"]}', encoding="utf-8")
    with pytest.raises(HandOffError, match=r"release.json: dvc_outs: input should be an object"):
        ReleaseRecord.load(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(HandOffError, match=r"release.json: not valid JSON"):
        ReleaseRecord.load(path)


# ---- the baseline cache (main-cache.yml saves it, pull requests read it) ------------------------------------


def test_baseline_source_of_an_older_cache_reads(tmp_path: Path) -> None:
    (tmp_path / "source.json").write_text('{"source": "DVC cache/remote"}\n', encoding="utf-8")
    assert BaselineSource.read(tmp_path / "source.json") == BaselineSource(source="DVC cache/remote")
    (tmp_path / "source.json").write_text('{"lock_md5_matches": true}\n', encoding="utf-8")
    with pytest.raises(HandOffError, match=r"source.json: source: field required"):
        BaselineSource.read(tmp_path / "source.json")


def test_a_corrupt_pin_map_entry_is_ignored_and_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    (cache / "pin-map").mkdir(parents=True)
    pinned = "a" * 32
    (cache / "pin-map" / pinned).write_text('{"path": "models/model.joblib", "pinned": "x"}', encoding="utf-8")
    assert _from_pin_map(tmp_path, pinned, tmp_path / "out", cache) is None
    assert f"pin-map/{pinned}: md5: field required" in capsys.readouterr().err
    entry = PinMapEntry(path="models/model.joblib", pinned=pinned, md5="b" * 32)
    entry.write(cache / "pin-map" / pinned)
    assert PinMapEntry.read(cache / "pin-map" / pinned) == entry


# ---- rollback.json (make rollback -> deploy / gitops-publish) -----------------------------------------------


def test_rollback_record_reaches_deploy_as_data(tmp_path: Path) -> None:
    import argparse

    from mlops_template.ops.release.commands import _from_rollback_record
    from mlops_template.ops.serving.record import RollbackRecord

    path = tmp_path / "rollback.json"
    hostile = 'ghcr.io/o/r:1";touch x;"'
    RollbackRecord(version="2", image=hostile, bento="svc:$(touch x)").write(path)
    args = argparse.Namespace(rollback_record=str(path), image=None, bento=None, version=None)
    _from_rollback_record(args)
    assert (args.image, args.bento, args.version) == (hostile, "svc:$(touch x)", "2")

    path.write_text('{"image": "ghcr.io/o/r:1", "bento": ""}', encoding="utf-8")
    with pytest.raises(HandOffError, match=r"rollback.json: version: field required .*`make rollback`"):
        _from_rollback_record(args)
    path.write_text('{"image": ["a"], "version": "2"}', encoding="utf-8")
    with pytest.raises(HandOffError, match=r"rollback.json: image: input should be a valid string"):
        _from_rollback_record(args)
