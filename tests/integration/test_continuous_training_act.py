"""The continuous-training loop's workflows run for real under act (host mode), against the recording
GitHub API stand-in (.ci/emulation/github_api.py) and a local bare repository that plays github.com.

- monitor.yml, drifted traffic in the log: the drift issue is opened and retrain.yml dispatched; a second
  run updates the same issue instead of opening another. With no log configured: green, a notice, nothing.
  Labels under which the logged predictions are often wrong: degraded, the issue, reason "performance degraded".
- retrain.yml on one trained repository whose data source is a file outside git (the "bucket"):
  1. nothing changed: no branch, no PR, exit 0 (dispatched by hand, and again on the weekly `schedule` event:
     both start the retraining job);
  2. new data landed (repository_dispatch new-data): branch retrain/candidate pushed with dvc.lock,
     metrics and the model metadata, ONE PR requested with the report, and the report posted on it
     (GITHUB_TOKEN: the PR gets no checks of its own);
  3. its publish step again with a RETRAIN_TOKEN: the same PR is updated, no second one, no comment needed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from emulation.act.harness import ActRun, run_workflow, set_param, uv_cache_dir
from emulation.github_api import GitHubStandIn
from tests.support import copy_repo, env_with_venv, git, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # two pipeline runs under act

MONITOR = Path(".github/workflows/monitor.yml")
RETRAIN = Path(".github/workflows/retrain.yml")


def publish_origin(seed: Path, work: Path) -> Path:
    """A bare `origin` holding seed's main, and a clone of it on main (the checkout of a scheduled run)."""
    origin = work / "origin.git"
    git(work, "clone", "-q", "--bare", str(seed), str(origin))
    repo = work / "repo"
    git(work, "clone", "-q", str(origin), str(repo))
    return repo


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubStandIn]:
    """The API of a private repository whose setting "Allow GitHub Actions to create and approve pull requests" is
    on (the retraining PR is opened with GITHUB_TOKEN; off, GitHub answers 403: tests/unit/test_github_rules.py)."""
    with GitHubStandIn(allow_pull_requests=True) as api:
        yield api


@pytest.fixture(scope="module")
def uv_cache() -> Path:
    return uv_cache_dir()


def act(
    repo: Path,
    workflow: Path,
    event_name: str,
    event: dict,
    work: Path,
    github: GitHubStandIn,
    uv_cache: Path,
    secrets: dict[str, str] | None = None,
) -> ActRun:
    return run_workflow(
        repo,
        event,
        work,
        workflow=workflow,
        event_name=event_name,
        uv_cache_dir=uv_cache,
        env={"GITHUB_API_URL": github.url},
        secrets=secrets,
    )


# ----------------------------------------------------------------------------- monitor.yml


@pytest.fixture(scope="module")
def drift_runs(tmp_path_factory: pytest.TempPathFactory, github: GitHubStandIn, uv_cache: Path) -> list[ActRun]:
    work = tmp_path_factory.mktemp("monitor")
    repo = publish_origin(copy_repo(work / "seed"), work)
    profile = json.loads((repo / "models" / "reference_profile.json").read_text(encoding="utf-8"))

    # served traffic: the first 10 features (a third) at 3x their training maximum, the rest at the median
    def value(i: int, c: dict) -> object:
        if c["kind"] != "numeric":
            return next(iter(c["counts"]))
        return 3 * (c["summary"]["max"] or 1) if i < 10 else c["summary"]["p50"]

    records = [{f: value(i, c) for i, (f, c) in enumerate(profile["columns"].items())} for _ in range(150)]
    from mlops_template.ops.serving.predlog import log_lines

    log = work / "traffic" / "predictions.jsonl"
    log.parent.mkdir()
    log.write_text(log_lines("predict", "model:v1", records, [1] * 150, [0.9] * 150), encoding="utf-8")
    event = {"inputs": {"log": str(log)}}
    return [act(repo, MONITOR, "workflow_dispatch", event, work / f"act{i}", github, uv_cache) for i in (1, 2)]


def test_drifted_traffic_opens_one_issue_and_dispatches_retraining(
    drift_runs: list[ActRun], github: GitHubStandIn
) -> None:
    first, second = drift_runs
    assert first.returncode == 0, first.describe()
    assert second.returncode == 0, second.describe()
    steps = first.steps()
    assert steps[("drift-monitor/compare served traffic with the training data", "make monitor")] == "Success"
    assert "[monitor] drift:" in first.log
    issues = github.plain_issues()
    assert len(issues) == 1, issues  # the second run updated it
    issue = issues[0]
    assert issue["title"] == "Drift detected in served traffic" and [lab["name"] for lab in issue["labels"]] == [
        "drift"
    ]
    assert "DRIFT: retraining triggered" in issue["body"] and "| feature |" in issue["body"]
    assert f"issue #{issue['number']} created" in first.log and f"issue #{issue['number']} updated" in second.log
    dispatches = github.calls("POST", r"/actions/workflows/retrain\.yml/dispatches$")
    assert len(dispatches) == 2
    assert dispatches[0]["json"] == {"ref": "main", "inputs": {"reason": "drift detected by the monitor"}}
    # the report also reached the job summary and the artifact
    assert "Drift monitor: DRIFT" in first.summary()
    assert (first.record_dir / "artifacts" / "drift-report" / "summary.json").is_file()


def test_labels_the_model_gets_wrong_open_the_issue_and_dispatch_retraining_for_performance(
    tmp_path_factory: pytest.TempPathFactory, uv_cache: Path
) -> None:
    """The fifth trigger under act: logged predictions with ids, labels (the `labels` input) under which half the
    answers are wrong: status degraded (it outranks the drift of these synthetic inputs), the one issue gets the
    performance section, and retrain.yml is dispatched with reason "performance degraded"."""
    work = tmp_path_factory.mktemp("monitor-degraded")
    repo = publish_origin(copy_repo(work / "seed"), work)
    profile = json.loads((repo / "models" / "reference_profile.json").read_text(encoding="utf-8"))
    medians = {
        f: c["summary"]["p50"] if c["kind"] == "numeric" else next(iter(c["counts"]))
        for f, c in profile["columns"].items()
    }
    from datetime import UTC, datetime

    ts, rows = datetime.now(UTC).isoformat(), 200
    lines = [
        {"ts": ts, "request_id": f"r{i}", "id": i, "role": "champion", "endpoint": "predict", "model_version": "m:1"}
        | {"inputs": medians, "label": i % 2, "score": 0.95 if i % 2 else 0.05}
        for i in range(rows)
    ]
    (work / "traffic").mkdir()
    log, labels = work / "traffic" / "predictions.jsonl", work / "traffic" / "labels.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    truth = [{"id": i, "target": (i // 2) % 2, "ts": ts} for i in range(rows)]  # right for half the rows
    labels.write_text("".join(json.dumps(t) + "\n" for t in truth), encoding="utf-8")
    with GitHubStandIn() as github:
        event = {"inputs": {"log": str(log), "labels": str(labels)}}
        r = act(repo, MONITOR, "workflow_dispatch", event, work / "act", github, uv_cache)
        assert r.returncode == 0, r.describe()
        assert "[monitor] degraded:" in r.log
        [issue] = github.plain_issues()
        assert "PERFORMANCE DEGRADED" in issue["body"] and "### Live performance: DEGRADED" in issue["body"]
        dispatches = github.calls("POST", r"/actions/workflows/retrain\.yml/dispatches$")
        assert [d["json"] for d in dispatches] == [{"ref": "main", "inputs": {"reason": "performance degraded"}}]


def test_a_new_repository_without_a_prediction_log_skips_with_a_notice(
    tmp_path_factory: pytest.TempPathFactory, github: GitHubStandIn, uv_cache: Path
) -> None:
    """A repository created from the template runs the schedule from day one, before PREDICTION_LOG_URL is
    set: the run is green, the job summary says what to configure, and nothing is opened or dispatched."""
    work = tmp_path_factory.mktemp("monitor-unconfigured")
    repo = publish_origin(copy_repo(work / "seed"), work)
    before = len(github.requests)
    r = act(repo, MONITOR, "workflow_dispatch", {"inputs": {}}, work / "act", github, uv_cache)
    assert r.returncode == 0, r.describe()
    steps = r.steps()
    assert steps[("drift-monitor/compare served traffic with the training data", "make monitor")] == "Success"
    assert "[monitor] unconfigured" in r.log
    assert all(step != "make monitor-issue" for _, step in steps)  # the alert job did not run
    summary = r.summary()
    assert "Drift monitor: skipped (no prediction log configured)" in summary and "PREDICTION_LOG_URL" in summary
    assert github.requests[before:] == []


# ----------------------------------------------------------------------------- retrain.yml


@pytest.fixture(scope="module")
def bucket_repo(trained_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The trained project with data.source = a CSV outside git (the landing bucket); origin = its main.
    DVC's cache is shared by absolute path, so main's model is found as if pulled from a DVC remote."""
    work = tmp_path_factory.mktemp("retrain")
    seed = work / "seed"
    shutil.copytree(trained_repo, seed, ignore=shutil.ignore_patterns("mlflow.db", "mlruns", ".cache"))
    landing = work / "bucket" / "data.csv"
    landing.parent.mkdir()
    pd.read_parquet(seed / "data" / "raw" / "data.parquet").to_csv(landing, index=False)
    set_param(seed, "data.source", str(landing))
    run(["dvc", "config", "cache.dir", str(seed / ".dvc" / "cache")], cwd=seed)
    run(["dvc", "repro"], cwd=seed)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "data from the bucket")
    return publish_origin(seed, work), landing


@pytest.fixture(scope="module")
def retrain_runs(
    bucket_repo: tuple[Path, Path], github: GitHubStandIn, uv_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ActRun]:
    repo, landing = bucket_repo
    work = tmp_path_factory.mktemp("retrain-act")
    runs = {
        "unchanged": act(
            repo, RETRAIN, "workflow_dispatch", {"inputs": {"reason": "weekly check"}}, work / "a", github, uv_cache
        )
    }
    # the weekly schedule (GitHub's `schedule` event payload), on the same unchanged data: retraining starts
    schedule = {"schedule": "41 4 * * 1"}
    runs["schedule"] = act(repo, RETRAIN, "schedule", schedule, work / "s", github, uv_cache)
    origin = repo.parent / "origin.git"
    (work / "branches-after-unchanged.txt").write_text(git(origin, "branch", "--list"), encoding="utf-8")
    frame = pd.read_csv(landing)
    frame.iloc[: len(frame) - 40].to_csv(landing, index=False)  # new data landed: a different extract
    new_data = {"action": "new-data", "client_payload": {"reason": "new data landed"}}
    runs["new_data"] = act(repo, RETRAIN, "repository_dispatch", new_data, work / "b", github, uv_cache)
    return runs


def test_no_new_data_means_no_pull_request(retrain_runs: dict[str, ActRun], bucket_repo: tuple[Path, Path]) -> None:
    r = retrain_runs["unchanged"]
    assert r.returncode == 0, r.describe()
    assert "data unchanged" in r.log and "nothing to propose" in r.log
    assert "Running stage 'train'" not in r.log  # seeded training on the same inputs: skipped
    assert all(step != "make retrain-publish" for _, step in r.steps())  # the publish job was skipped
    branches = (r.record_dir.parent.parent / "branches-after-unchanged.txt").read_text(encoding="utf-8")
    assert "retrain/candidate" not in branches


def test_the_schedule_starts_retraining(retrain_runs: dict[str, ActRun], github: GitHubStandIn) -> None:
    """The second trigger (on a schedule): `act schedule` with GitHub's schedule payload starts the same retraining
    job as a dispatch (data re-extracted, the decision taken, its reason `schedule`); unchanged data: no PR."""
    r = retrain_runs["schedule"]
    assert r.returncode == 0, r.describe()
    ran = {step: result for (_, step), result in r.steps().items()}
    assert ran.get("make retrain-data (refresh the data from its source)") == "Success", ran
    assert ran.get("make retrain-decide") == "Success", ran
    assert "re-extracting the data from its source" in r.log and "retraining run started by: schedule" in r.log
    assert "data unchanged" in r.log and "nothing to propose" in r.log
    assert "make retrain-publish" not in ran
    # the dispatch run said its own reason
    assert "retraining run started by: weekly check" in retrain_runs["unchanged"].log


def test_new_data_opens_one_pull_request_with_the_report(
    retrain_runs: dict[str, ActRun], github: GitHubStandIn, bucket_repo: tuple[Path, Path]
) -> None:
    r = retrain_runs["new_data"]
    assert r.returncode == 0, r.describe()
    assert "data CHANGED" in r.log
    origin = bucket_repo[0].parent / "origin.git"
    changed = git(origin, "diff", "--name-only", "main", "retrain/candidate").split()
    assert "dvc.lock" in changed and "metrics/metrics.json" in changed and "models/metadata.json" in changed
    pulls = github.pulls()
    assert len(pulls) == 1
    pull = pulls[0]
    assert pull["head"]["ref"] == "retrain/candidate" and pull["base"]["ref"] == "main"
    assert "new data" in pull["body"] and "Model comparison" in pull["body"]
    comments = github.comments_on(pull["number"])
    assert len(comments) == 1 and "Model comparison" in comments[0]["body"]  # GITHUB_TOKEN: no checks, report posted


def test_a_repeated_publish_updates_the_same_pull_request(
    retrain_runs: dict[str, ActRun], github: GitHubStandIn, bucket_repo: tuple[Path, Path]
) -> None:
    """The publish job again (as a second retraining run would end), now with a RETRAIN_TOKEN: run directly,
    not under act (a third pipeline run under act would add minutes and test nothing more)."""
    repo = bucket_repo[0]
    shutil.copytree(
        retrain_runs["new_data"].record_dir / "artifacts" / "retrain-candidate", repo / "reports" / "retrain"
    )
    env = {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/mlops-template", "GITHUB_TOKEN": "app-token"}
    result = run(["make", "retrain-publish", "RETRAIN_APP_TOKEN=true"], cwd=repo, env=env_with_venv(env))
    assert "updated" in result.stderr, result.stderr
    pulls = github.pulls()
    assert len(pulls) == 1, pulls
    assert pulls[0]["body"].startswith("Opened with the RETRAIN_TOKEN")
    assert len(github.comments_on(pulls[0]["number"])) == 1  # no second report comment: the PR's checks report
