"""`dvc push` / `dvc pull` round-trip against a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_template.core.lineage import file_md5
from tests.support import MOTO_CREDENTIALS, env_with_venv, git, run, s3_server

pytestmark = pytest.mark.slow

OUTS = ["data/raw/data.parquet", "data/split/train.parquet", "models/model.joblib", "metrics/predictions.csv"]


def test_push_pull_round_trip_through_s3(trained_repo: Path, tmp_path: Path) -> None:
    env = env_with_venv(MOTO_CREDENTIALS)
    with s3_server(tmp_path, "dvc-test", env) as (endpoint, _):
        producer = tmp_path / "producer"
        shutil.copytree(trained_repo, producer, symlinks=True)
        run(["dvc", "remote", "add", "-d", "-f", "s3", "s3://dvc-test/store"], cwd=producer, env=env)
        run(["dvc", "remote", "modify", "s3", "endpointurl", endpoint], cwd=producer, env=env)
        pushed = run(["dvc", "push"], cwd=producer, env=env)
        assert "pushed" in pushed.stdout
        git(producer, "add", "-A")
        git(producer, "commit", "-qm", "trained, remote configured")

        consumer = tmp_path / "consumer"
        git(tmp_path, "clone", "-q", str(producer), str(consumer))
        assert not (consumer / "models/model.joblib").exists()
        run(["dvc", "pull"], cwd=consumer, env=env)
        for rel in OUTS:
            assert file_md5(consumer / rel) == file_md5(producer / rel), rel
        status = run(["dvc", "status"], cwd=consumer, env=env)
        assert "up to date" in status.stdout


def _main_on_s3(trained_repo: Path, tmp_path: Path, endpoint: str, env: dict[str, str]) -> Path:
    """main (the trained project, committed) with its outputs pushed to s3://dvc-test/store, as main's release did."""
    main = tmp_path / "main"
    shutil.copytree(trained_repo, main, symlinks=True)
    git(main, "add", "-A")
    git(main, "commit", "-q", "--allow-empty", "-m", "main: pipeline outputs")
    run(["dvc", "remote", "add", "--local", "-f", "release", "s3://dvc-test/store"], cwd=main, env=env)
    run(["dvc", "remote", "modify", "--local", "release", "endpointurl", endpoint], cwd=main, env=env)
    run(["dvc", "push", "-r", "release"], cwd=main, env=env)
    return main


@pytest.mark.parametrize("configured", ["by make dvc-pull (--local)", "committed by the PR"])
def test_the_baseline_is_read_from_the_s3_remote_at_mains_revision(
    configured: str, trained_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner's fresh checkout of a PR (empty DVC cache) gets main's model from S3 at main's revision: the remote
    the workspace uses, whether CI configured it in .dvc/config.local (with its endpoint) or the PR commits it as
    the default. Main's own commit still names the template's folder remote: DVC alone, at that revision, would
    look there, miss, and the baseline would be rebuilt."""
    from mlops_template.experiment.baseline import get_baseline

    env = env_with_venv(MOTO_CREDENTIALS)
    for key, value in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    with s3_server(tmp_path, "dvc-test", env) as (endpoint, _):
        main = _main_on_s3(trained_repo, tmp_path, endpoint, env)
        git(main, "checkout", "-q", "-b", "pr")
        if configured == "committed by the PR":
            run(["dvc", "remote", "add", "-d", "-f", "storage", "s3://dvc-test/store"], cwd=main, env=env)
            run(["dvc", "remote", "modify", "storage", "endpointurl", endpoint], cwd=main, env=env)
        git(main, "commit", "-q", "--allow-empty", "-am", "the PR")
        runner = tmp_path / "runner"
        git(tmp_path, "clone", "-q", str(main), str(runner))
        if configured == "by make dvc-pull (--local)":  # scripts/pr/remote.sh's remote_configure
            run(
                ["dvc", "remote", "add", "--local", "-f", "--default", "ci", "s3://dvc-test/store"], cwd=runner, env=env
            )
            run(["dvc", "remote", "modify", "--local", "ci", "endpointurl", endpoint], cwd=runner, env=env)
        assert not (runner / ".dvc" / "cache").exists()
        baseline = get_baseline("origin/main", repo=runner, rebuild=False)
        assert baseline.source == "DVC cache/remote (the exact files of the base dvc.lock)"
        assert baseline.lock_md5_matches is True
        assert file_md5(baseline.path("model.joblib")) == file_md5(main / "models/model.joblib")


def test_a_baseline_missing_from_the_remote_is_named_with_its_md5_and_the_remote(
    trained_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the issue saw ("neither in the DVC cache nor on a reachable remote", cause unknown) now says which md5
    was looked for and where, e.g. when the remote holds another machine's bytes, not main's pins."""
    from mlops_template.core.lineage import locked_outs
    from mlops_template.experiment.baseline import BaselineError, get_baseline

    env = env_with_venv(MOTO_CREDENTIALS)
    for key, value in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    with s3_server(tmp_path, "dvc-test", env) as (endpoint, _):
        main = tmp_path / "main"
        shutil.copytree(trained_repo, main, symlinks=True)
        git(main, "add", "-A")
        git(main, "commit", "-q", "--allow-empty", "-m", "main")  # and nothing pushed
        runner = tmp_path / "runner"
        git(tmp_path, "clone", "-q", str(main), str(runner))
        run(["dvc", "remote", "add", "--local", "-f", "--default", "ci", "s3://dvc-test/store"], cwd=runner, env=env)
        run(["dvc", "remote", "modify", "--local", "ci", "endpointurl", endpoint], cwd=runner, env=env)
        with pytest.raises(BaselineError, match="not in the DVC cache or remote"):
            get_baseline("origin/main", repo=runner, rebuild=False)
    pin = locked_outs((runner / "dvc.lock").read_text(encoding="utf-8"))["models/model.joblib"]
    err = capsys.readouterr().err
    assert (
        "models/model.joblib of " in err
        and f"(md5 {pin}) is neither in the DVC cache nor on remote 'ci' (s3://dvc-test/store)" in err
    ), err


def test_pr_push_lists_the_committed_pins_on_the_remote_and_warns_about_a_missing_one(
    trained_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make pr-push`'s report: every cached output the committed dvc.lock pins, with its md5 and whether it is on
    the remote; a pin the run did not produce (another machine's bytes) is a warning."""
    from mlops_template.cli import main as mlops

    env = env_with_venv(MOTO_CREDENTIALS)
    for key, value in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    with s3_server(tmp_path, "dvc-test", env) as (endpoint, _):
        main = _main_on_s3(trained_repo, tmp_path, endpoint, env)
        monkeypatch.chdir(main)
        summary = tmp_path / "summary.md"
        pushed = ["dvc-remote", "pushed", "--remote", "release", "--url", "s3://dvc-test/store"]
        assert mlops([*pushed, "--summary", str(summary)]) == 0
        out = capsys.readouterr().out
        table = summary.read_text(encoding="utf-8")
        for rel in [*OUTS, "data/split/test.parquet"]:
            assert f"| `{rel}` | `{file_md5(main / rel)}` | yes |" in table, table
        assert "::warning::" not in out and "the release pulls them" in out
        # the committed dvc.lock pins a model nobody pushed (e.g. the author's laptop made other bytes)
        lock = (main / "dvc.lock").read_text(encoding="utf-8")
        (main / "dvc.lock").write_text(
            lock.replace(file_md5(main / "models/model.joblib"), "deadbeef" * 4), encoding="utf-8"
        )
        git(main, "commit", "-q", "-am", "a laptop's dvc.lock")
        assert mlops(["dvc-remote", "pushed", "--remote", "release", "--summary", ""]) == 0
        out = capsys.readouterr().out
        fake = "deadbeef" * 4
        assert f"| `models/model.joblib` | `{fake}` | **no** |" in out
        assert f"::warning::pr-push: models/model.joblib ({fake}, as the committed dvc.lock pins it) is not on" in out
