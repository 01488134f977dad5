"""The workflows' GitHub client against the recording GitHub API stand-in (a real HTTP server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulation.github_api import GitHubStandIn
from emulation.github_token import encode
from mlops_template.cli import main
from mlops_template.ops.github import MAX_BODY, GitHub, GitHubError, marker_line


@pytest.fixture
def api() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(readonly_tokens={"fork-token"}) as stand_in:
        yield stand_in


def client(api: GitHubStandIn, token: str = "t") -> GitHub:
    return GitHub.from_env({"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "acme/repo", "GITHUB_TOKEN": token})


def test_sticky_comment_is_created_once_then_edited(api: GitHubStandIn) -> None:
    api.add_pull(7, head="feature")
    gh = client(api)
    assert gh.upsert_comment(7, "pr-report", "first")[0] == "created"
    assert gh.upsert_comment(7, "pr-report", "second")[0] == "updated"
    assert gh.upsert_comment(7, "other", "x")[0] == "created"
    bodies = [c["body"] for c in api.comments_on(7)]
    assert len(bodies) == 2
    assert bodies[0].startswith("second") and marker_line("pr-report") in bodies[0]


def test_one_issue_per_marker_and_closed_ones_are_not_reused(api: GitHubStandIn) -> None:
    gh = client(api)
    action, number = gh.upsert_issue("drift", "Drift", "report 1", ["drift"])
    assert action == "created"
    assert gh.upsert_issue("drift", "Drift again", "report 2", ["drift"]) == ("updated", number)
    assert len(api.plain_issues()) == 1 and api.issues[number]["title"] == "Drift again"
    api.issues[number]["state"] = "closed"
    assert gh.upsert_issue("drift", "Drift", "report 3", ["drift"])[0] == "created"


def test_pull_request_upsert_by_branch(api: GitHubStandIn) -> None:
    gh = client(api)
    action, number = gh.upsert_pull("retrain/2026-11-30", "main", "Retrain", "body")
    assert action == "created"
    assert gh.upsert_pull("retrain/2026-11-30", "main", "Retrain (2)", "body 2") == ("updated", number)
    assert [p["title"] for p in api.pulls()] == ["Retrain (2)"]


def test_dispatch_is_recorded(api: GitHubStandIn) -> None:
    client(api).dispatch_workflow("retrain.yml", "main", {"reason": "drift"})
    (call,) = api.calls("POST", "/dispatches$")
    assert call["path"].endswith("/actions/workflows/retrain.yml/dispatches")
    assert call["json"] == {"ref": "main", "inputs": {"reason": "drift"}}


def test_read_only_token_gets_a_message_that_says_why(api: GitHubStandIn) -> None:
    api.add_pull(3, head="fork-branch")
    with pytest.raises(GitHubError, match=r"HTTP 403 .*Resource not accessible.*permissions"):
        client(api, "fork-token").upsert_comment(3, "pr-report", "x")
    assert api.comments_on(3) == []


def test_long_bodies_are_truncated_below_githubs_limit(api: GitHubStandIn) -> None:
    api.add_pull(1, head="b")
    client(api).upsert_comment(1, "m", "x" * (MAX_BODY + 10_000))
    (comment,) = api.comments_on(1)
    assert len(comment["body"]) < 65_536 and "truncated" in comment["body"]


def test_cli_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    assert main(["github", "dispatch", "--workflow", "retrain.yml"]) == 1
    assert "GITHUB_TOKEN" in capsys.readouterr().err


def test_cli_comment(api: GitHubStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api.add_pull(5, head="b")
    (tmp_path / "r.md").write_text("# report\n")
    monkeypatch.setenv("GITHUB_API_URL", api.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/repo")
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    comment = ["github", "comment", "--number", "5", "--marker", "pr-report", "--body-file", str(tmp_path / "r.md")]
    assert main(comment) == 0
    assert main(comment) == 0
    assert len(api.comments_on(5)) == 1


def test_the_create_pull_requests_setting_is_named_not_the_jobs_permissions() -> None:
    """GitHub's 403 when "Allow GitHub Actions to create and approve pull requests" is off (new repositories)
    is a repository setting: the error says which one, and callers can tell it apart."""
    token = encode("publish", {"contents": "write", "pull-requests": "write"}, private=True)  # a job's GITHUB_TOKEN
    with GitHubStandIn() as api, pytest.raises(GitHubError) as err:  # the setting is off, as on a new repository
        client(api, token).upsert_pull("retrain/candidate", "main", "Retrain", "body")
    assert err.value.pull_requests_not_permitted
    assert "Allow GitHub Actions to create and approve pull requests" in str(err.value)
    assert "Workflow permissions" in str(err.value) and "job's `permissions:`" not in str(err.value)


def test_other_403s_are_not_mistaken_for_the_pull_request_setting(api: GitHubStandIn) -> None:
    api.add_pull(3, head="fork-branch")
    with pytest.raises(GitHubError) as err:
        client(api, "fork-token").upsert_comment(3, "pr-report", "x")
    assert err.value.status == 403 and not err.value.pull_requests_not_permitted
