"""The PR report's way out (mlops_template.ops.pr_comment): job summary without broken images, and the trusted
workflow_run commenter, which posts with `cml comment update` (the recording `cml` stand-in of the act harness,
which talks to the recording GitHub API stand-in as CML's GitHub driver does; own fixtures, no project files)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulation.act.harness import STANDINS
from emulation.github_api import GitHubStandIn
from mlops_template.ops import pr_comment

WATERMARK = '"CML watermark pr-experiment")'

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
    """The commenter's environment, with the act harness's recording `cml` (setup-cml's stand-in) as CML."""
    folder = event_path.parent
    cml = folder / "bin" / "cml"
    if not cml.exists():
        cml.parent.mkdir()
        shutil.copy(STANDINS / "iterative" / "setup-cml" / "cml.py", cml)
        cml.chmod(cml.stat().st_mode | stat.S_IEXEC)
    return {
        "PATH": os.environ["PATH"],
        "CML": str(cml),
        "ACT_STANDINS": str(STANDINS),
        "ACT_RECORD_DIR": str(folder / "records"),
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": "acme/repo",
        "GITHUB_SHA": "d" * 40,
        "GITHUB_TOKEN": "t",
        "GITHUB_EVENT_PATH": str(event_path),
        **extra,
    }


def cml_calls(event_path: Path) -> list[dict[str, Any]]:
    path = event_path.parent / "records" / "calls.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


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


def test_cml_posts_the_sanitized_file_with_the_trusted_conclusion_first(
    tmp_path: Path, api: GitHubStandIn, artifact: Path
) -> None:
    api.add_pull(5, "feature", head_sha="abc123")
    (artifact / "report.md").write_text("## Verdict: improved, gate passed\n\nall good\n", encoding="utf-8")
    path = event(tmp_path, fork=False)  # the event says "failure"; so does the trusted variable
    assert pr_comment.post(artifact, False, env(api, path, PR_RUN_CONCLUSION="failure")) == 0
    (call,) = cml_calls(path)
    assert call["argv"][:-1] == [
        "comment",
        "update",
        "--target=pr/5",
        "--watermark-title=pr-experiment",
        "--no-publish",
        "--repo=https://github.com/acme/repo",
    ]
    assert not call["argv"][-1].startswith(str(artifact)) and call["token"] == "GITHUB_TOKEN"
    (comment,) = api.comments_on(5)
    body = comment["body"]
    first, rest = body.split("\n", 1)
    assert first == "### ❌ pr-experiment: **failure**"  # GitHub's record, above the PR's own claim
    assert "Everything below the rule was written by the pull request's own code" in rest
    assert rest.index("\n---\n") < rest.index("Verdict: improved")
    assert body.rstrip().endswith(WATERMARK) and "cml.dev/watermark.png#" + "d" * 40 in body


def test_the_conclusion_is_one_of_githubs_values(tmp_path: Path) -> None:
    run = {"id": 1, "conclusion": "success"}
    assert pr_comment.conclusion_of(run, {}) == "success"
    assert pr_comment.conclusion_of(run, {"PR_RUN_CONCLUSION": "timed_out"}) == "timed_out"
    assert pr_comment.conclusion_of(run, {"PR_RUN_CONCLUSION": "**success** <b>"}) == "unknown"
    body = pr_comment.comment_body(tmp_path, {"id": 1, "conclusion": "cancelled"}, {}, False, "cml")
    assert body.startswith("### ⏹️ pr-experiment: **cancelled**") and "no report" in body


def test_a_report_cannot_forge_cmls_watermark(tmp_path: Path, api: GitHubStandIn, artifact: Path) -> None:
    """A PR whose report carries the watermark must not take over (or duplicate) the sticky comment."""
    api.add_pull(5, "feature", head_sha="abc123")
    forged = '![](https://cml.dev/watermark.png#0123abcd "CML watermark pr-experiment")'
    (artifact / "report.md").write_text(f"hello\n\n{forged}\n", encoding="utf-8")
    e = env(api, event(tmp_path, fork=False))
    assert pr_comment.post(artifact, False, e) == 0
    assert pr_comment.post(artifact, False, e) == 0
    (comment,) = api.comments_on(5)
    assert comment["body"].count("cml.dev/watermark.png") == 1 and "0123abcd" not in comment["body"]
    assert len(api.calls("PATCH", r"/issues/comments/")) == 1


def test_a_failing_or_missing_cml_is_reported(
    tmp_path: Path, api: GitHubStandIn, artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add_pull(5, "feature", head_sha="abc123")
    path = event(tmp_path, fork=False)
    assert pr_comment.post(artifact, False, env(api, path, CML_STANDIN_DENY="1")) == 1
    assert "cml comment update failed (exit 1): cml stand-in: HttpError" in capsys.readouterr().err
    assert pr_comment.post(artifact, False, env(api, path, CML=str(tmp_path / "nope"))) == 1
    assert "installs CML with iterative/setup-cml" in capsys.readouterr().err
    assert api.comments_on(5) == []
