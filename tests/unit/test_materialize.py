"""Promote, don't rebuild blindly: the release's check of materialised outputs against the committed dvc.lock."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_template.core.lineage import file_md5, locked_outs, output_md5
from mlops_template.ops.release.materialize import judge, materialize, verify
from mlops_template.ops.release.plan import ReleaseError


def _lock(outs: dict[str, str]) -> str:
    return yaml.safe_dump(
        {"schema": "2.0", "stages": {"s": {"cmd": "x", "outs": [{"path": p, "md5": m} for p, m in outs.items()]}}}
    )


def test_dir_hash_is_dvcs(tmp_path: Path) -> None:
    """Same algorithm as dvc_data's Tree.digest: md5 of the sorted JSON listing, suffixed .dir."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.csv").write_text("1,2\n")
    (folder / "a.png").write_bytes(b"\x89PNG")
    (folder / "sub" / "c.txt").write_text("c")
    odb = HashFileDB(LocalFileSystem(), str(tmp_path / "odb"))
    _, _, obj = build(odb, str(folder), LocalFileSystem(), "md5")
    assert output_md5(folder) == obj.hash_info.value


def test_verify_names_each_output_and_both_hashes(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"model-a")
    (tmp_path / "pred.csv").write_text("1\n")
    pins = {"model.joblib": "0" * 32, "pred.csv": file_md5(tmp_path / "pred.csv"), "gone.parquet": "1" * 32}
    bad = {m.path: (m.pinned, m.actual) for m in verify(pins, tmp_path)}
    assert bad == {"model.joblib": ("0" * 32, file_md5(tmp_path / "model.joblib")), "gone.parquet": ("1" * 32, None)}


def _git_repo(root: Path, files: dict[str, bytes], lock: dict[str, str]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "dvc.lock").write_text(_lock(lock))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    for cmd in (["init", "-q"], ["add", "dvc.lock"], ["commit", "-qm", "lock"]):
        subprocess.run(["git", *cmd], cwd=root, check=True, env={**env, "PATH": "/usr/bin:/bin"})


def test_materialize_rebuilds_then_fails_on_a_stale_lock(tmp_path: Path) -> None:
    _git_repo(tmp_path, {}, {"models/model.joblib": "a" * 32, "metrics/predictions.csv": "b" * 32})
    calls: list[list[str]] = []

    def rebuild(cmd: list[str]) -> None:  # what `dvc repro` would produce, and a rewritten workspace lock
        calls.append(cmd)
        (tmp_path / "models").mkdir()
        (tmp_path / "models/model.joblib").write_bytes(b"other model")
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics/predictions.csv").write_bytes(b"other predictions")
        (tmp_path / "dvc.lock").write_text(_lock({"models/model.joblib": "c" * 32}))

    with pytest.raises(ReleaseError) as err:
        materialize(tmp_path, remote_configured=False, run=rebuild, log=lambda _: None)
    assert calls == [["dvc", "repro"]]
    text = str(err.value)
    assert (
        f"models/model.joblib: dvc.lock pins {'a' * 32}, materialised {file_md5(tmp_path / 'models/model.joblib')}"
        in text
    )
    assert "metrics/predictions.csv: dvc.lock pins" in text
    assert "commit dvc.lock" in text


def test_materialize_pulls_when_a_remote_is_configured(tmp_path: Path) -> None:
    model = b"the reviewed model"
    _git_repo(tmp_path, {}, {"models/model.joblib": hashlib.md5(model).hexdigest()})
    calls: list[list[str]] = []

    def pull(cmd: list[str]) -> None:
        calls.append(cmd)
        (tmp_path / "models").mkdir()
        (tmp_path / "models/model.joblib").write_bytes(model)

    done = materialize(tmp_path, remote_configured=True, run=pull, log=lambda _: None)
    assert calls == [["dvc", "pull", "--remote", "release"]]
    assert done.pins == locked_outs((tmp_path / "dvc.lock").read_text())
    assert done.prediction_equivalent == {}


_PREDICTIONS = b"row,score\n0,0.25\n1,0.75\n"


def _rebuild_with(tmp_path: Path, model: bytes, predictions: bytes) -> tuple[list[str], object]:
    """A committed lock pinning one model and its predictions; a rebuild writing ``model`` and ``predictions``."""
    committed = {
        "models/model.joblib": hashlib.md5(b"the pickled model on the PR's runner").hexdigest(),
        "metrics/predictions.csv": hashlib.md5(_PREDICTIONS).hexdigest(),
    }
    _git_repo(tmp_path, {}, committed)
    logs: list[str] = []

    def rebuild(cmd: list[str]) -> None:
        for rel, data in (("models/model.joblib", model), ("metrics/predictions.csv", predictions)):
            (tmp_path / rel).parent.mkdir(exist_ok=True)
            (tmp_path / rel).write_bytes(data)
        (tmp_path / "dvc.lock").write_text(_lock({"models/model.joblib": hashlib.md5(model).hexdigest()}))

    try:
        result: object = materialize(tmp_path, remote_configured=False, run=rebuild, log=logs.append)
    except ReleaseError as err:
        result = err
    return logs, result


def test_a_pickle_with_other_bytes_is_accepted_when_its_predictions_match(tmp_path: Path) -> None:
    logs, done = _rebuild_with(tmp_path, b"same model, other pickle bytes", _PREDICTIONS)
    assert not isinstance(done, ReleaseError), done
    other = hashlib.md5(b"same model, other pickle bytes").hexdigest()
    assert done.prediction_equivalent == {"models/model.joblib": other}  # type: ignore[attr-defined]
    warning = next(line for line in logs if "WARNING" in line)
    assert other in warning and "metrics/predictions.csv" in warning and "uv.lock" in warning
    # the workspace lock is main's again: the service's /metadata names the committed pins
    assert (tmp_path / "dvc.lock").read_text() == subprocess.run(
        ["git", "show", "HEAD:dvc.lock"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout


def test_a_pickle_that_predicts_differently_fails(tmp_path: Path) -> None:
    _, err = _rebuild_with(tmp_path, b"another model", b"row,score\n0,0.26\n1,0.75\n")
    assert isinstance(err, ReleaseError)
    assert "models/model.joblib: dvc.lock pins" in str(err) and "metrics/predictions.csv: dvc.lock pins" in str(err)


def test_a_missing_pickle_is_never_accepted(tmp_path: Path) -> None:
    pins = {"models/model.joblib": "a" * 32, "metrics/predictions.csv": file_md5_of(tmp_path, _PREDICTIONS)}
    mismatches = verify(pins, tmp_path)
    assert judge(pins, mismatches, tmp_path).accepted == []


def file_md5_of(root: Path, data: bytes) -> str:
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics/predictions.csv").write_bytes(data)
    return file_md5(root / "metrics/predictions.csv")


def test_smoke_accepts_the_served_model_only_when_the_release_accepted_it(tmp_path: Path) -> None:
    from mlops_template.ops.serving.smoke import SmokeFailed, check_identity

    pins = {"models/model.joblib": "a" * 32, "metrics/predictions.csv": "b" * 32}
    lock = tmp_path / "dvc.lock"
    lock.write_text(_lock(pins))
    check_identity(pins, "a" * 32, lock)
    with pytest.raises(SmokeFailed, match="served model md5"):
        check_identity(pins, "c" * 32, lock)
    check_identity(pins, "c" * 32, lock, prediction_equivalent={"models/model.joblib": "c" * 32})
    with pytest.raises(SmokeFailed, match="served model md5"):
        check_identity(pins, "d" * 32, lock, prediction_equivalent={"models/model.joblib": "c" * 32})


# ---- outputs rebuilt on another machine: the tolerance rule, the committed evidence, a pull that misses ----

_SCORES = b"id,label,prediction,score\n1,0,0,0.125\n2,1,1,0.875\n3,1,1,0.6000000000000001\n"
_LAST_DIGITS = b"id,label,prediction,score\n1,0,0,0.12500000000000003\n2,1,1,0.8749999999999999\n3,1,1,0.6\n"
_FLIPPED = b"id,label,prediction,score\n1,0,0,0.125\n2,1,1,0.875\n3,1,0,0.6000000000000001\n"
_BEYOND = b"id,label,prediction,score\n1,0,0,0.125\n2,1,1,0.875001\n3,1,1,0.6000000000000001\n"
_EVIDENCE = {"metrics/metrics.json": b'{"roc_auc": 0.99}\n', "plots/confusion.csv": b"actual,predicted\n0,0\n1,1\n"}
_LAPTOP_MODEL = b"the model pickled on the laptop that committed dvc.lock"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _put_in_dvc_cache(root: Path, data: bytes) -> None:
    md5 = _md5(data)
    obj = root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)


def _another_machine(
    root: Path, rebuilt_predictions: bytes, pinned_in_cache: bool, evidence: dict[str, bytes] | None = None
) -> tuple[list[str], object]:
    """dvc.lock committed on a laptop (its model and predictions); this machine's rebuild writes other bytes."""
    for rel, data in _EVIDENCE.items():  # committed in git (cache: false), as the evaluate stage writes them
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    pins = {
        "models/model.joblib": _md5(_LAPTOP_MODEL),
        "metrics/predictions.csv": _md5(_SCORES),
        "metrics/metrics.json": _md5(_EVIDENCE["metrics/metrics.json"]),
        "plots": output_md5(root / "plots"),
        "data/split/test.parquet": _md5(b"test rows"),
    }
    _git_repo(root, {}, pins)
    if pinned_in_cache:
        _put_in_dvc_cache(root, _SCORES)
    logs: list[str] = []

    def rebuild(cmd: list[str]) -> None:
        assert cmd == ["dvc", "repro"], cmd
        outputs = {
            "models/model.joblib": b"the same model pickled here",
            "metrics/predictions.csv": rebuilt_predictions,
            "data/split/test.parquet": b"test rows",
            **(evidence or {}),
        }
        for rel, data in outputs.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        (root / "dvc.lock").write_text(_lock({"models/model.joblib": _md5(b"the same model pickled here")}))

    try:
        result: object = materialize(root, remote_configured=False, run=rebuild, log=logs.append)
    except ReleaseError as err:
        result = err
    return logs, result


def test_last_digit_differences_are_equivalent_within_the_tolerance(tmp_path: Path) -> None:
    logs, done = _another_machine(tmp_path, _LAST_DIGITS, pinned_in_cache=True)
    assert not isinstance(done, ReleaseError), done
    assert done.model_verdict == "equivalent" and done.materialized == "rebuilt"  # type: ignore[attr-defined]
    outputs = done.outputs  # type: ignore[attr-defined]
    assert outputs["metrics/predictions.csv"] == {
        "pinned": _md5(_SCORES), "actual": _md5(_LAST_DIGITS), "verdict": "equivalent", "source": "rebuilt"
    }  # fmt: skip
    assert outputs["models/model.joblib"]["pinned"] == _md5(_LAPTOP_MODEL)
    assert outputs["models/model.joblib"]["actual"] == _md5(b"the same model pickled here")
    assert outputs["data/split/test.parquet"]["verdict"] == "identical"
    assert "scores within 1e-09" in done.equivalence  # type: ignore[attr-defined]
    text = "\n".join(logs)
    assert (
        "the model is equivalent" in text and f"{_md5(_SCORES)}  metrics/predictions.csv  [equivalent, rebuilt]" in text
    )
    assert (tmp_path / "dvc.lock").read_text() == committed_lock_of(tmp_path)


def committed_lock_of(root: Path) -> str:
    return subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=root, capture_output=True, text=True, check=True).stdout


def test_a_flipped_label_fails_naming_both_hashes_and_the_row(tmp_path: Path) -> None:
    _, err = _another_machine(tmp_path, _FLIPPED, pinned_in_cache=True)
    assert isinstance(err, ReleaseError)
    text = str(err)
    assert f"metrics/predictions.csv: dvc.lock pins {_md5(_SCORES)}, materialised {_md5(_FLIPPED)}" in text
    assert f"models/model.joblib: dvc.lock pins {_md5(_LAPTOP_MODEL)}" in text
    assert "predicted class differs on test row 2 (id 3)" in text


def test_scores_beyond_the_tolerance_fail(tmp_path: Path) -> None:
    _, err = _another_machine(tmp_path, _BEYOND, pinned_in_cache=True)
    assert isinstance(err, ReleaseError) and "score differs beyond the tolerance on test row 1" in str(err)


def test_without_the_pinned_predictions_the_committed_evidence_decides(tmp_path: Path) -> None:
    _, done = _another_machine(tmp_path, _LAST_DIGITS, pinned_in_cache=False)
    assert not isinstance(done, ReleaseError), done
    assert done.model_verdict == "equivalent"  # type: ignore[attr-defined]
    assert "committed evidence" in done.equivalence  # type: ignore[attr-defined]


def test_without_the_pinned_predictions_other_metrics_fail(tmp_path: Path) -> None:
    other = {"metrics/metrics.json": b'{"roc_auc": 0.98}\n'}
    _, err = _another_machine(tmp_path, _LAST_DIGITS, pinned_in_cache=False, evidence=other)
    assert isinstance(err, ReleaseError)
    assert f"metrics/metrics.json: dvc.lock pins {_md5(_EVIDENCE['metrics/metrics.json'])}" in str(err)


def test_a_pull_that_misses_outputs_falls_back_to_a_rebuild_and_says_what_was_missing(tmp_path: Path) -> None:
    data, model = b"split data", b"the reviewed model"
    pins = {"data/split/test.parquet": _md5(data), "models/model.joblib": _md5(model)}
    _git_repo(tmp_path, {}, pins)
    calls: list[list[str]] = []
    logs: list[str] = []

    def dvc(cmd: list[str]) -> None:
        calls.append(cmd)
        (tmp_path / "data/split").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data/split/test.parquet").write_bytes(data)
        if cmd[1] == "pull":  # the model was never pushed: DVC fails after checking out what it has
            raise ReleaseError("`dvc pull --remote release` exited 1 (see its output above)")
        (tmp_path / "models").mkdir(exist_ok=True)
        (tmp_path / "models/model.joblib").write_bytes(model)

    done = materialize(tmp_path, remote_configured=True, run=dvc, log=logs.append)
    assert calls == [["dvc", "pull", "--remote", "release"], ["dvc", "repro"]]
    text = "\n".join(logs)
    assert "WARNING the pull missed 1 of 2 outputs" in text
    assert f"missing: models/model.joblib (dvc.lock pins {_md5(model)})" in text
    assert done.materialized == "pulled, then rebuilt" and done.model_verdict == "identical"
    assert done.outputs["data/split/test.parquet"]["source"] == "pulled"
    assert done.outputs["models/model.joblib"] == {
        "pinned": _md5(model), "actual": _md5(model), "verdict": "identical", "source": "rebuilt"
    }  # fmt: skip


def test_a_complete_pull_is_not_rebuilt(tmp_path: Path) -> None:
    model = b"the reviewed model"
    _git_repo(tmp_path, {}, {"models/model.joblib": _md5(model)})
    calls: list[list[str]] = []

    def pull(cmd: list[str]) -> None:
        calls.append(cmd)
        (tmp_path / "models").mkdir(exist_ok=True)
        (tmp_path / "models/model.joblib").write_bytes(model)

    done = materialize(tmp_path, remote_configured=True, run=pull, log=lambda _: None)
    assert calls == [["dvc", "pull", "--remote", "release"]]
    assert (done.materialized, done.outputs["models/model.joblib"]["source"]) == ("pulled", "pulled")
