"""`make retrain-publish` on a new repository, where GitHub Actions may not create pull requests: the branch
is pushed (to a real bare repository playing github.com), GitHub's 403 on POST /pulls (the API stand-in's
default for a job's GITHUB_TOKEN: the setting is off, as on a new repository) is recognised, and ONE issue
links the branch and its compare view, with the setting to flip. The job stays green with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulation.github_api import GitHubStandIn
from emulation.github_token import encode
from mlops_template.cli import main as mlops
from mlops_template.ops.monitoring import retrain
from tests.support import git

SETTING = 'Settings → Actions → General → Workflow permissions → "Allow GitHub Actions to create and approve pull'
COMPARE = "https://github.com/acme/repo/compare/main...retrain/candidate"


@pytest.fixture
def candidate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A clone of `origin` (bare) whose reports/retrain/ holds the bundle and PR body `retrain-commit` writes."""
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "dvc.lock").write_text("schema: '2.0'\n", encoding="utf-8")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "main")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "-q", str(origin), str(repo))
    git(repo, "checkout", "-q", "-b", retrain.BRANCH)
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n", encoding="utf-8")
    git(repo, "commit", "-qam", "Retrain (new data)")
    (repo / "reports/retrain").mkdir(parents=True)
    git(repo, "bundle", "create", str(repo / retrain.BUNDLE), f"refs/heads/{retrain.BRANCH}")
    git(repo, "checkout", "-q", "main")
    (repo / retrain.BODY).write_text("## Model comparison\nbetter\n", encoding="utf-8")
    monkeypatch.chdir(repo)
    return repo, origin


# the publish job's GITHUB_TOKEN as the act harness hands it out (the repository setting applies to it only)
JOB_TOKEN = encode("publish", {"contents": "write", "pull-requests": "write", "issues": "write"}, private=True)


def github_env(monkeypatch: pytest.MonkeyPatch, api: GitHubStandIn, tmp_path: Path, token: str = "t") -> None:
    monkeypatch.setenv("GITHUB_API_URL", api.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/repo")
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))


def test_without_the_pull_request_setting_an_issue_links_the_pushed_branch(
    candidate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, origin = candidate
    with GitHubStandIn() as api:  # "Allow GitHub Actions to create and approve pull requests": off
        github_env(monkeypatch, api, tmp_path, JOB_TOKEN)
        assert retrain.publish("main", "new data", app_token=False) == 0
        first = capsys.readouterr()
        assert retrain.publish("main", "new data again", app_token=False) == 0  # the next run: same issue
        second = capsys.readouterr()
        posts = api.calls("POST", r"/pulls$")
        issues = api.plain_issues()
    # the branch is on origin, exactly the bundle's commit
    pushed = git(origin, "rev-parse", f"refs/heads/{retrain.BRANCH}").strip()
    assert pushed == git(repo, "rev-parse", f"refs/remotes/bundle/{retrain.BRANCH}").strip()
    assert len(posts) == 2 and api.pulls() == []  # asked each time, refused each time
    (issue,) = issues
    assert issue["title"] == "Retrain: new data again (pull request not opened)"
    assert COMPARE in issue["body"] and "https://github.com/acme/repo/tree/retrain/candidate" in issue["body"]
    assert SETTING in issue["body"] and "## Model comparison" in issue["body"]
    assert "RETRAIN_APP_ID" in issue["body"]
    # a warning annotation naming the setting, the job summary, and the step outputs
    assert first.out.startswith("::warning title=retrain: no pull request::") and SETTING in first.out
    assert COMPARE in first.out
    assert f"issue #{issue['number']} (created)" in first.out and f"issue #{issue['number']} (updated)" in second.out
    assert "pull request not opened" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    outputs = (tmp_path / "output").read_text(encoding="utf-8")
    assert f"issue={issue['number']}" in outputs and "pr=\n" in outputs and f"compare={COMPARE}" in outputs


def test_with_the_setting_on_the_pull_request_is_opened_and_no_issue(
    candidate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with GitHubStandIn() as api:
        github_env(monkeypatch, api, tmp_path)
        assert retrain.publish("main", "new data", app_token=True) == 0
        assert len(api.pulls()) == 1 and api.plain_issues() == []


def test_another_refusal_still_fails_the_job(
    candidate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the pull-request setting's 403 falls back: a token without pull-requests: write is an error."""
    with GitHubStandIn(readonly_tokens={"t"}) as api:
        github_env(monkeypatch, api, tmp_path)
        assert retrain.publish("main", "new data", app_token=False) == 1
        assert api.plain_issues() == []
    assert "Resource not accessible by integration" in capsys.readouterr().err


def test_the_app_token_stand_in_records_no_key_and_outputs_a_token(tmp_path: Path) -> None:
    """The act stand-in for actions/create-github-app-token (its script run as act runs it): it outputs a
    token, records the client ID and permissions but never the key, and fails without a key, like the action."""
    import subprocess

    import yaml

    from tests.support import REPO_ROOT

    standins = REPO_ROOT / ".ci/emulation/act/standins"
    step = yaml.safe_load((standins / "actions/create-github-app-token/action.yml").read_text())["runs"]["steps"][0]
    env = {
        "PATH": "/usr/bin:/bin",
        "ACT_STANDINS": str(standins),
        "ACT_RECORD_DIR": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "CLIENT_ID": "Iv23liABC",
        "HAS_KEY": "true",
        "CONTENTS": "write",
        "PULLS": "write",
        "ISSUES": "write",
    }
    subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], env=env, check=True)
    assert (tmp_path / "output").read_text() == "token=app-token-standin\n"
    (call,) = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert call["uses"] == "actions/create-github-app-token" and call["client-id"] == "Iv23liABC"
    assert call["private_key_given"] == "true" and call["inputs"] == {}  # the key itself is never recorded
    no_key = subprocess.run(["bash", "-c", step["run"]], env=env | {"HAS_KEY": "false"}, capture_output=True, text=True)
    assert no_key.returncode != 0 and "private-key" in no_key.stderr


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("", False), ("1`id`", False)])
def test_the_app_token_flag_is_read_from_the_environment(
    value: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """retrain.yml sets RETRAIN_APP_TOKEN in the step's env; the CLI reads it (make no longer expands it)."""
    seen: list[bool] = []
    monkeypatch.setattr(retrain, "publish", lambda base, reason, app_token: seen.append(app_token) or 0)
    monkeypatch.setenv("RETRAIN_APP_TOKEN", value)
    assert mlops(["retrain", "publish"]) == 0
    assert seen == [expected]
