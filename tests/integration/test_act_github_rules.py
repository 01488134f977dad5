"""The act harness enforces the GitHub rules act ignores, on tiny fixture workflows (tests/fixtures/act_rules/).

Each fixture runs for real under act in a small git repository (``origin`` = a local bare repository), in the
harness's default mode, a PRIVATE repository, and where the rule depends on it in public mode too:

- a job without ``contents: read`` fails at actions/checkout ("Repository not found") on a private repository and
  passes on a public one; another run's artifact needs ``actions: read``;
- GitHub API calls need the job's permissions (403 "Resource not accessible by integration"), and ``POST /pulls``
  with the job's token gets GitHub's 403 while "Allow GitHub Actions to create and approve pull requests" is off;
- a pull request from a fork gets no secrets, no ``vars`` and a read-only token;
- a job output that contains a secret's value is dropped, with the runner's warning.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulation.act.harness import REPOSITORY, ActRun, pull_request_event, push_event, run_workflow
from emulation.github_api import GitHubStandIn
from tests.support import REPO_ROOT, git

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "act_rules"
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
DOWNLOAD = "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c"
OWNER, NAME = REPOSITORY.split("/")
REPOSITORY_EVENT = {"full_name": REPOSITORY, "name": NAME, "owner": {"login": OWNER}, "default_branch": "main"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of a bare ``origin`` (main) with every fixture workflow, and a branch ``feature`` for PRs."""
    work = tmp_path_factory.mktemp("rules")
    seed = work / "seed"
    (seed / ".github" / "workflows").mkdir(parents=True)
    git(work, "init", "-q", "-b", "main", str(seed))
    (seed / "marker.txt").write_text("the commit under test\n", encoding="utf-8")
    for workflow in FIXTURES.glob("*.yml"):
        shutil.copy(workflow, seed / ".github" / "workflows" / workflow.name)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "fixture workflows")
    git(work, "clone", "-q", "--bare", str(seed), str(work / "origin.git"))
    clone = work / "repo"
    git(work, "clone", "-q", str(work / "origin.git"), str(clone))
    git(clone, "branch", "feature")
    return clone


@pytest.fixture
def api() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as stand_in:
        stand_in.handle("POST", f"/repos/{REPOSITORY}/issues", b'{"title": "an issue"}', "token a-pat")  # #1
        yield stand_in


def act(
    repo: Path,
    name: str,
    event: dict[str, object],
    event_name: str,
    work: Path,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> ActRun:
    """``run_workflow`` for fixture ``name`` (an absolute path: a workflow outside the repository)."""
    workflow = Path(".github/workflows") / name
    env = {"ACT_FIXTURES": str(FIXTURES), **(env or {})}
    return run_workflow(repo, event, work, workflow=workflow, event_name=event_name, env=env, timeout=300, **kwargs)


def step(run: ActRun, job: str, name: str) -> str | None:
    return next((result for (j, s), result in run.steps().items() if j.endswith(f"/{job}") and s == name), None)


def failed(run: ActRun, job: str) -> bool:
    return any(result == "Failure" for (j, _), result in run.steps().items() if j.endswith(f"/{job}"))


def test_checkout_without_contents_read_fails_on_a_private_repository(repo: Path, tmp_path: Path) -> None:
    private = act(repo, "checkout.yml", push_event(repo), "push", tmp_path / "private")
    assert private.returncode != 0, private.describe()
    assert step(private, "without-contents", CHECKOUT) == "Failure", private.steps()
    assert "remote: Repository not found." in private.log
    assert step(private, "without-contents", "the checkout gave the commit under test") is None  # never ran
    # The same workflow on a public repository: the token needs no permission to read public contents.
    public = act(repo, "checkout.yml", push_event(repo), "push", tmp_path / "public", private=False)
    assert public.returncode == 0, public.describe()
    assert step(public, "without-contents", "the checkout gave the commit under test") == "Success"
    assert "fixture workflows" in public.log  # git log in the checked-out copy: the commit under test


def test_another_runs_artifact_needs_actions_read_on_a_private_repository(repo: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "earlier-run"
    (artifacts / "report").mkdir(parents=True)
    (artifacts / "report" / "report.md").write_text("# report\n", encoding="utf-8")
    event = {"action": "completed", "workflow_run": {"id": 4242}, "repository": REPOSITORY_EVENT}
    env = {"ACT_ARTIFACTS_FROM": str(artifacts)}
    run = act(repo, "artifact.yml", event, "workflow_run", tmp_path / "private", env=env)
    assert step(run, "with-actions-read", DOWNLOAD) == "Success", run.describe()
    assert step(run, "without-actions-read", DOWNLOAD) == "Failure", run.describe()
    assert "Unable to download artifact(s): Resource not accessible by integration" in run.log
    public = act(repo, "artifact.yml", event, "workflow_run", tmp_path / "public", env=env, private=False)
    assert public.returncode == 0, public.describe()


def test_api_calls_need_the_jobs_permissions_and_actions_may_not_open_pull_requests(
    repo: Path, api: GitHubStandIn, tmp_path: Path
) -> None:
    event = {"inputs": {}, "ref": "refs/heads/main", "repository": REPOSITORY_EVENT}
    run = act(repo, "api.yml", event, "workflow_dispatch", tmp_path / "off", env={"GITHUB_API_URL": api.url})
    assert failed(run, "comment-without-permission") and failed(run, "open-pull-request"), run.describe()
    assert not failed(run, "comment-with-permission"), run.describe()
    assert "api: 403 Resource not accessible by integration" in run.log
    assert [c["body"] for c in api.comments_on(1)] == ["hello"]  # only the job with issues: write commented
    denied = [c for c in api.calls("POST") if "denied" in c]
    assert {(c["job"], c["denied"]) for c in denied} == {
        ("comment-without-permission", "issues: write"),
        ("open-pull-request", "Allow GitHub Actions to create and approve pull requests: off"),
    }
    assert "api: 403 GitHub Actions is not permitted to create or approve pull requests." in run.log
    assert api.pulls() == []
    with GitHubStandIn(allow_pull_requests=True) as allowed:
        on = act(
            repo,
            "api.yml",
            event,
            "workflow_dispatch",
            tmp_path / "on",
            env={"GITHUB_API_URL": allowed.url},
            jobs=["open-pull-request"],
        )
        assert on.returncode == 0, on.describe()
        assert [p["head"]["ref"] for p in allowed.pulls()] == ["feature"]


def test_a_fork_pr_gets_no_secrets_no_vars_and_a_read_only_token(
    repo: Path, api: GitHubStandIn, tmp_path: Path
) -> None:
    api.add_pull(2, "feature")
    given = {"secrets": {"THE_SECRET": "s3cr3t-value"}, "variables": {"THE_VAR": "a-var"}}
    env = {"GITHUB_API_URL": api.url}
    same = pull_request_event(repo, "main", "feature", number=2)
    own = act(repo, "fork.yml", same, "pull_request", tmp_path / "own", env=env, **given)
    assert own.returncode == 0, own.describe()
    assert "secret given: yes var: [a-var] token given: yes" in own.log
    fork = pull_request_event(repo, "main", "feature", number=2, fork_owner="contributor")
    forked = act(repo, "fork.yml", fork, "pull_request", tmp_path / "fork", env=env, **given)
    assert forked.returncode != 0, forked.describe()
    assert "secret given:  var: [] token given: yes" in forked.log
    assert "api: 403 Resource not accessible by integration" in forked.log  # pull-requests: write, capped at read
    assert [c["body"] for c in api.comments_on(2)] == ["from the PR"]  # the same-repository PR's only


def test_a_job_output_that_contains_a_secret_is_dropped_with_the_runners_warning(repo: Path, tmp_path: Path) -> None:
    run = act(
        repo,
        "outputs.yml",
        push_event(repo),
        "push",
        tmp_path / "act",
        secrets={"REGISTRY_USERNAME": "octo-user"},
        variables={"NAMESPACE": "octo-user"},
    )
    assert run.returncode == 0, run.describe()
    assert "Skip output 'image' since it may contain secret." in run.log
    assert "Skip output 'plain'" not in run.log
    assert "image=[] plain=[no secret here]" in run.log


def test_the_pr_commenter_checks_out_a_private_repository_only_with_contents_read(repo: Path, tmp_path: Path) -> None:
    """pr-comment.yml as it is, and with the permission set a unit test used to pin (no ``contents: read``): on a
    private repository the latter never gets past its checkout, so the PR never got its comment."""
    text = (REPO_ROOT / ".github" / "workflows" / "pr-comment.yml").read_text(encoding="utf-8")
    before = tmp_path / "pr-comment-before.yml"
    before.write_text(re.sub(r"\n +contents: read[^\n]*", "", text, count=1), encoding="utf-8")
    assert "contents: read" in text and "contents: read" not in before.read_text(encoding="utf-8")
    run = {"id": 7, "event": "pull_request", "conclusion": "success", "pull_requests": []}
    event = {"action": "completed", "workflow_run": run, "repository": REPOSITORY_EVENT}
    now = act(repo, str(REPO_ROOT / ".github" / "workflows" / "pr-comment.yml"), event, "workflow_run", tmp_path / "a")
    assert step(now, "post the PR report", CHECKOUT) == "Success", now.describe()
    old = act(repo, str(before), event, "workflow_run", tmp_path / "b")
    assert step(old, "post the PR report", CHECKOUT) == "Failure", old.describe()
    assert "remote: Repository not found." in old.log
