"""GitHub's token rules as the act harness and the API stand-in emulate them (no act run: see
tests/integration/test_act_github_rules.py for the same rules under act)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from emulation.act.harness import MASK_STEP, _WorkflowLoader, github_rules_workflow, is_fork_pull_request
from emulation.github_api import GitHubStandIn
from emulation.github_token import allows, decode, encode, job_permissions
from tests.support import REPO_ROOT, VENV_BIN

REPO = "/repos/acme/mlops-template"


def test_job_permissions_follow_githubs_semantics() -> None:
    workflow = {
        "permissions": {"contents": "read", "issues": "write"},
        "jobs": {"inherits": {}, "own": {"permissions": {"pull-requests": "write"}}, "none": {"permissions": {}}},
    }
    assert job_permissions(workflow, "inherits") == {"contents": "read", "issues": "write"}
    assert job_permissions(workflow, "own") == {"pull-requests": "write"}  # unlisted scopes are none
    assert job_permissions(workflow, "none") == {}
    assert job_permissions(workflow, "own", fork=True) == {"pull-requests": "read"}  # a fork's token reads only
    assert job_permissions({"jobs": {"j": {}}}, "j") == {"contents": "read", "packages": "read"}  # new repo default
    assert job_permissions({"permissions": "write-all", "jobs": {"j": {}}}, "j")["actions"] == "write"
    with pytest.raises(ValueError, match="unknown permission pull-request: write"):
        job_permissions({"jobs": {"j": {"permissions": {"pull-request": "write"}}}}, "j")


def test_a_job_token_allows_what_its_permissions_say() -> None:
    token = encode("comment", {"contents": "read", "pull-requests": "write"}, private=True)
    assert decode(token) == {
        "job": "comment",
        "permissions": {"contents": "read", "pull-requests": "write"},
        "private": True,
        "fork": False,
    }
    assert allows(token, "contents", "read") and allows(token, "pull-requests", "read")
    assert not allows(token, "contents", "write") and not allows(token, "actions", "read")
    public = encode("comment", {}, private=False)
    assert allows(public, "contents", "read") and not allows(public, "issues", "write")  # public: anyone reads
    assert allows("ghp_a-personal-access-token", "contents", "write")  # not a job token: not checked


def test_the_rewritten_workflow_gives_each_job_its_token_and_masks_outputs() -> None:
    text = (REPO_ROOT / ".github" / "workflows" / "retrain.yml").read_text(encoding="utf-8")
    rewritten, tokens = github_rules_workflow(text, private=True, fork=False, secret_names=["RETRAIN_TOKEN"])
    workflow = yaml.load(rewritten, Loader=_WorkflowLoader)
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch", "repository_dispatch"}  # `on`, not true
    retrain, publish = workflow["jobs"]["retrain"], workflow["jobs"]["publish"]
    assert [decode(t)["permissions"] for t in tokens.values()] == [  # type: ignore[index]
        {"contents": "read"},
        {"contents": "write", "pull-requests": "write", "issues": "write"},
    ]
    (step,) = [s for s in publish["steps"] if s.get("run") == "make retrain-publish"]
    token = "${{ steps.app-token.outputs.token || secrets.RETRAIN_TOKEN || secrets.ACT_GITHUB_TOKEN_1 }}"
    assert step["env"]["GITHUB_TOKEN"] == token
    assert publish["env"]["ACT_JOB_TOKEN"] == "${{ secrets.ACT_GITHUB_TOKEN_1 }}"
    assert "github.token" not in rewritten.replace("# ", "")
    mask = retrain["steps"][-1]
    assert mask["name"] == MASK_STEP and mask["if"] == "${{ always() }}"
    assert mask["env"]["ACT_OUTPUT_0"] == "${{ steps.decide.outputs.action }}"
    assert mask["env"]["ACT_SECRET_0"] == "${{ secrets.RETRAIN_TOKEN }}"
    assert retrain["outputs"] == {"action": "${{ steps.act_job_outputs.outputs['action'] }}"}
    assert json.loads(mask["env"]["ACT_OUTPUT_NAMES"]) == ["action"]


def test_a_fork_is_a_pull_request_whose_head_is_another_repository() -> None:
    def event(head: str) -> dict[str, object]:
        return {"pull_request": {"head": {"repo": {"full_name": head}}, "base": {"repo": {"full_name": "a/r"}}}}

    assert is_fork_pull_request(event("b/r"), "pull_request")
    assert not is_fork_pull_request(event("a/r"), "pull_request")
    assert not is_fork_pull_request(event("b/r"), "workflow_run")  # runs in the base repository's context


@pytest.fixture
def api() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as stand_in:
        stand_in.handle("POST", f"{REPO}/issues", b'{"title": "an issue"}', "token a-pat")  # 1
        stand_in.add_pull(2, "feature")
        yield stand_in


def call(api: GitHubStandIn, method: str, path: str, token: str, body: object = None) -> tuple[int, object]:
    return api.handle(method, f"{REPO}{path}", json.dumps(body).encode() if body else b"", f"Bearer {token}")


def test_the_api_answers_403_when_the_jobs_token_lacks_the_permission(api: GitHubStandIn) -> None:
    comment = {"body": "hi"}
    commenter = encode("comment", {"contents": "read", "pull-requests": "write"}, private=True)
    assert call(api, "POST", "/issues/2/comments", commenter, comment)[0] == 201  # a PR: pull-requests suffices
    status, body = call(api, "POST", "/issues/1/comments", commenter, comment)  # a plain issue needs issues
    assert (status, body["message"]) == (403, "Resource not accessible by integration")  # type: ignore[index]
    assert call(api, "GET", "/issues", commenter)[0] == 403  # private: reading issues needs issues: read
    assert call(api, "GET", "/issues", encode("c", {}, private=False))[0] == 200  # public: anyone reads
    monitor = encode("monitor", {"issues": "write"}, private=True)
    assert call(api, "POST", "/actions/workflows/retrain.yml/dispatches", monitor, {"ref": "main"})[0] == 403
    dispatcher = encode("monitor", {"actions": "write"}, private=True)
    assert call(api, "POST", "/actions/workflows/retrain.yml/dispatches", dispatcher, {"ref": "main"})[0] == 204
    assert call(api, "POST", "/issues", "ghp_pat", {"title": "t"})[0] == 201  # not a job token: not checked
    assert [c["denied"] for c in api.calls() if "denied" in c] == ["issues: write", "issues: read", "actions: write"]


def test_actions_may_not_open_pull_requests_unless_the_setting_allows_it(api: GitHubStandIn) -> None:
    pull = {"title": "t", "head": "retrain/candidate", "base": "main"}
    publisher = encode("publish", {"contents": "write", "pull-requests": "write"}, private=True)
    status, body = call(api, "POST", "/pulls", publisher, pull)
    assert status == 403 and body == {  # GitHub's answer on a new repository
        "message": "GitHub Actions is not permitted to create or approve pull requests.",
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "403",
    }
    assert call(api, "POST", "/pulls", "ghs_an-app-installation-token", pull)[0] == 201  # the setting is Actions'
    with GitHubStandIn(allow_pull_requests=True) as allowed:
        assert allowed.handle("POST", f"{REPO}/pulls", json.dumps(pull).encode(), f"Bearer {publisher}")[0] == 201


def test_every_rewritten_workflow_is_still_a_valid_workflow_without_the_global_token(tmp_path: Path) -> None:
    """What act runs (the rewritten copies) passes GitHub's workflow schema, and no job expression is left with
    ``github.token`` / ``secrets.GITHUB_TOKEN`` (the global token, which may do nothing)."""
    rewritten = []
    for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")):
        text, tokens = github_rules_workflow(path.read_text(encoding="utf-8"), private=True, fork=False)
        assert len(tokens) == len(yaml.load(text, Loader=_WorkflowLoader)["jobs"])
        assert not re.search(r"\$\{\{[^}]*(github\.token|secrets\.GITHUB_TOKEN)", text, re.IGNORECASE), path.name
        rewritten.append(tmp_path / path.name)
        rewritten[-1].write_text(text, encoding="utf-8")
    check = [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, rewritten)]
    result = subprocess.run(check, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
