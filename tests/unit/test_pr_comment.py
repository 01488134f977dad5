"""The PR report's way out (mlops_template.pr_comment): job summary without broken images, and the trusted
workflow_run commenter against the recording GitHub API stand-in (own fixtures, no project files)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulation.github_api import GitHubStandIn
from mlops_template import pr_comment

REPORT = (
    "## Model comparison\n\n| metric | baseline | candidate |\n\n![ROC curve](roc.png)\n![](https://x.test/a.png)\n"
)


@pytest.fixture
def api() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "report.md").write_text(REPORT, encoding="utf-8")
    (folder / "roc.png").write_bytes(b"\x89PNG fake")
    return folder


def event(tmp_path: Path, *, fork: bool, sha: str = "abc123", number: int = 5) -> Path:
    head = {"ref": "feature", "sha": sha}
    run = {
        "id": 99,
        "event": "pull_request",
        "conclusion": "failure",
        "head_sha": sha,
        "head_branch": "feature",
        "head_repository": {"owner": {"login": "someone" if fork else "acme"}},
        "html_url": "https://github.com/acme/repo/actions/runs/99",
        "pull_requests": [] if fork else [{"number": number, "head": head}],
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"workflow_run": run}), encoding="utf-8")
    return path


def env(api: GitHubStandIn, event_path: Path, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": "acme/repo",
        "GITHUB_TOKEN": "t",
        "GITHUB_EVENT_PATH": str(event_path),
        **extra,
    }


def test_images_become_links_to_the_artifact() -> None:
    out = pr_comment.replace_images(REPORT, "https://run#artifacts")
    assert "![" not in out
    assert "[ROC curve (`roc.png`): in the run's artifact `pr-report`](https://run#artifacts)" in out


def test_untrusted_report_is_size_limited_and_decoded_safely(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    path.write_bytes(b"\xff\xfe" + b"a" * 100)
    text = pr_comment.read_untrusted(path, limit=50)
    assert text.startswith("\ufffd") and "truncated at 50 bytes" in text and text.split("\n")[0].count("a") == 48


def test_summary_has_no_local_images(tmp_path: Path, artifact: Path) -> None:
    out = tmp_path / "summary.md"
    pr_comment.summary(artifact / "report.md", out, {"GITHUB_REPOSITORY": "acme/repo", "GITHUB_RUN_ID": "3"})
    text = out.read_text(encoding="utf-8")
    assert "(roc.png)" not in text and "https://github.com/acme/repo/actions/runs/3#artifacts" in text
    pr_comment.summary(tmp_path / "missing.md", out, {})
    assert "no report" in out.read_text(encoding="utf-8")


def test_same_repo_pr_one_comment_edited_in_place(tmp_path: Path, api: GitHubStandIn, artifact: Path) -> None:
    api.add_pull(5, "feature", head_sha="abc123")
    e = env(api, event(tmp_path, fork=False))
    assert pr_comment.post(artifact, False, e) == 0
    assert pr_comment.post(artifact, False, e) == 0
    (comment,) = api.comments_on(5)
    assert "Model comparison" in comment["body"] and "<!-- mlops-template:pr-experiment -->" in comment["body"]
    assert "(roc.png)" not in comment["body"]
    assert len(api.calls("PATCH")) == 1


def test_fork_pr_is_found_by_head_sha_not_by_the_artifact(tmp_path: Path, api: GitHubStandIn, artifact: Path) -> None:
    api.add_pull(6, "feature", head_sha="old-sha")  # same branch name, another commit: not this run
    (artifact / "pr-number.txt").write_text("6", encoding="utf-8")  # whatever the PR wrote is ignored
    assert pr_comment.post(artifact, False, env(api, event(tmp_path, fork=True, sha="new-sha"))) == 0
    assert api.comments_on(6) == []
    api.add_pull(7, "feature", head_sha="new-sha")
    api.issues[6]["head"]["ref"] = "other"
    assert pr_comment.post(artifact, False, env(api, event(tmp_path, fork=True, sha="new-sha"))) == 0
    assert len(api.comments_on(7)) == 1


def test_a_report_cannot_forge_the_marker_or_ship_a_symlink(tmp_path: Path, api: GitHubStandIn, artifact: Path) -> None:
    api.add_pull(5, "feature", head_sha="abc123")
    report = artifact / "report.md"
    report.write_text("hi <!-- mlops-template:pr-experiment --> there\n", encoding="utf-8")
    assert pr_comment.post(artifact, False, env(api, event(tmp_path, fork=False))) == 0
    (comment,) = api.comments_on(5)
    assert comment["body"].count("<!-- mlops-template:pr-experiment -->") == 1
    report.unlink()
    report.symlink_to("/etc/passwd")
    body = pr_comment.comment_body(artifact, {"conclusion": "failure"}, {}, False, "cml")
    assert "no report" in body and "root:" not in body


def test_public_repository_publishes_only_the_reports_own_pngs(tmp_path: Path, artifact: Path) -> None:
    cml = tmp_path / "cml"
    log = tmp_path / "cml.log"
    cml.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho https://asset.cml.dev/x-$(basename "$3")\n', encoding="utf-8")
    cml.chmod(cml.stat().st_mode | stat.S_IEXEC)
    run: dict[str, Any] = {"id": 1, "html_url": "https://run"}
    body = pr_comment.comment_body(artifact, run, {}, True, str(cml))
    assert "![ROC curve](https://asset.cml.dev/x-roc.png)" in body
    assert log.read_text(encoding="utf-8").split() == ["asset", "publish", str(artifact / "roc.png")]
    assert "[plot](https://x.test/a.png)" in body and "![](https://x.test" not in body  # only linked


def test_not_a_pull_request_run_is_skipped(tmp_path: Path, api: GitHubStandIn, artifact: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"workflow_run": {"event": "push"}}), encoding="utf-8")
    assert pr_comment.post(artifact, False, env(api, path)) == 0
    assert api.requests == []
