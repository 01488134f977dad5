"""A PR cannot rewrite its own judge: CODEOWNERS covers the judged paths, and `make protect` applies the
ruleset (.github/rulesets/main.json) to the recording GitHub API stand-in: created once, then updated in place."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulation.github_api import GitHubStandIn
from mlops_template.ops import protect

ROOT = Path(__file__).resolve().parents[2]
RULESET = ROOT / ".github" / "rulesets" / "main.json"
CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
# What judges a pull request: if a PR can change these unreviewed, it can pass its own check.
JUDGED = [
    ".github/workflows/pr.yml",
    ".github/workflows/pr-comment.yml",
    ".github/CODEOWNERS",
    ".github/rulesets/main.json",
    "Makefile",
    "dvc.yaml",
    "params.yaml",
    "uv.lock",
    "src/mlops_template/experiment/compare.py",
    "src/mlops_template/experiment/policy.py",
    "src/mlops_template/experiment/lockcheck.py",
    "src/mlops_template/core/lineage.py",  # the dvc.lock reader of lockcheck, the git helper
    "src/mlops_template/core/handoff.py",  # how `make gate` reads comparison.json
    "src/mlops_template/ops/pr_comment.py",
    "src/mlops_template/cli.py",
]


@pytest.fixture
def api() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(readonly_tokens=["read-only"]) as stand_in:
        yield stand_in


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The parts of the repository `make protect` uses, with the placeholder team replaced as a fork would."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "src" / "mlops_template", copy / "src" / "mlops_template")
    shutil.copytree(ROOT / ".github", copy / ".github")
    shutil.copy(ROOT / "Makefile", copy / "Makefile")
    owners = copy / ".github" / "CODEOWNERS"
    owners.write_text(owners.read_text(encoding="utf-8").replace(protect.PLACEHOLDER, "@acme/ml-leads"), "utf-8")
    return copy


def make_protect(repo: Path, api: GitHubStandIn, token: str | None = "admin") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_"))}
    env |= {"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "acme/repo"}
    if token:
        env["GITHUB_TOKEN"] = token
    return subprocess.run(["make", "protect"], cwd=repo, env=env, capture_output=True, text=True, timeout=60)


def test_make_protect_creates_the_ruleset_then_updates_it(repo: Path, api: GitHubStandIn) -> None:
    first = make_protect(repo, api)
    assert first.returncode == 0, first.stderr
    assert "created on acme/repo (id 42)" in first.stdout
    (post,) = api.calls("POST", r"/rulesets$")
    assert post["path"] == "/repos/acme/repo/rulesets" and post["token"]
    assert post["json"] == json.loads(RULESET.read_text(encoding="utf-8"))

    second = make_protect(repo, api)
    assert second.returncode == 0, second.stderr
    assert "updated on acme/repo (id 42)" in second.stdout
    assert len(api.calls("POST", r"/rulesets")) == 1  # no duplicate
    (put,) = api.calls("PUT")
    assert put["path"] == "/repos/acme/repo/rulesets/42" and put["json"] == post["json"]
    assert list(api.rulesets) == [42]


def test_make_protect_refuses_the_placeholder_team_and_a_missing_token(repo: Path, api: GitHubStandIn) -> None:
    shutil.copy(CODEOWNERS, repo / ".github" / "CODEOWNERS")  # as the template ships it
    out = make_protect(repo, api)
    assert out.returncode == 2 and "placeholder team @your-org/ml-owners" in out.stderr
    assert "sed -i" in out.stderr and "Traceback" not in out.stderr

    (repo / ".github" / "CODEOWNERS").write_text("/Makefile @acme/ml-leads\n", encoding="utf-8")
    out = make_protect(repo, api, token=None)
    assert out.returncode == 2 and "no token: set GITHUB_TOKEN" in out.stderr and "Traceback" not in out.stderr
    assert api.requests == []


def test_a_refused_call_names_the_plan_and_the_permission(repo: Path, api: GitHubStandIn) -> None:
    out = make_protect(repo, api, token="read-only")
    assert out.returncode != 0 and "HTTP 403" in out.stderr and "Error 1" in out.stderr  # make: the exit code of python
    assert "GitHub Pro, Team or Enterprise" in out.stderr and "Administration" in out.stderr
    assert api.rulesets == {}


def test_a_broken_ruleset_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "main.json"
    bad.write_text('{"name": "x", "rules": [}', encoding="utf-8")
    with pytest.raises(protect.ProtectError, match=r"main.json is not valid JSON: line 1"):
        protect.load_ruleset(bad)
    bad.write_text('{"rules": []}', encoding="utf-8")
    with pytest.raises(protect.ProtectError, match=r'non-empty "name"'):
        protect.load_ruleset(bad)


def test_the_stand_in_refuses_what_github_refuses(api: GitHubStandIn) -> None:
    assert api.handle("POST", "/repos/a/b/rulesets", b'{"name": "r", "enforcement": "active"}', "Bearer t")[0] == 201
    status, answer = api.handle("POST", "/repos/a/b/rulesets", b'{"name": "r", "enforcement": "active"}', "Bearer t")
    assert status == 422 and "Name must be unique" in answer["message"]
    status, answer = api.handle("PUT", "/repos/a/b/rulesets/42", b'{"name": "r", "enforcement": "on"}', "Bearer t")
    assert status == 422 and "enforcement" in answer["message"]
    body = b'{"name": "s", "enforcement": "active", "rules": [{"type": "require_review"}]}'
    assert api.handle("POST", "/repos/a/b/rulesets", body, "Bearer t")[0] == 422


def test_the_ruleset_requires_prs_code_owners_and_the_gates_check() -> None:
    ruleset = json.loads(RULESET.read_text(encoding="utf-8"))
    assert ruleset["enforcement"] == "active" and ruleset["target"] == "branch"
    assert ruleset["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    rules: dict[str, Any] = {rule["type"]: rule.get("parameters", {}) for rule in ruleset["rules"]}
    assert rules["pull_request"]["require_code_owner_review"] is True
    assert rules["pull_request"]["required_approving_review_count"] >= 1
    contexts = {c["context"] for c in rules["required_status_checks"]["required_status_checks"]}
    # GitHub names a job's check run after the job's `name:`; a context no job produces blocks every merge.
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "pr.yml").read_text(encoding="utf-8"))["jobs"]
    names = {job["name"] for job in jobs.values()}
    assert contexts <= names, contexts - names
    gate = [job["name"] for job in jobs.values() if any(s.get("run") == "make gate" for s in job["steps"])]
    assert gate and gate[0] in contexts


def owners(path: str, lines: list[tuple[str, list[str]]]) -> list[str]:
    """The owners of ``path``: the last matching CODEOWNERS line (anchored paths, `dir/` = everything under)."""
    found: list[str] = []
    for pattern, who in lines:
        rel = pattern.lstrip("/")
        if path == rel or (rel.endswith("/") and path.startswith(rel)):
            found = who
    return found


def test_codeowners_covers_the_judged_paths_and_only_existing_ones() -> None:
    lines = [
        (parts[0], parts[1:])
        for raw in CODEOWNERS.read_text(encoding="utf-8").splitlines()
        if (parts := raw.split("#", 1)[0].split())
    ]
    for path in JUDGED:
        assert (ROOT / path).exists(), path
        assert owners(path, lines) == [protect.PLACEHOLDER], f"{path} has no code owner"
    for pattern, who in lines:
        assert pattern.startswith("/") and (ROOT / pattern.lstrip("/")).exists(), f"stale CODEOWNERS line {pattern}"
        assert all(re.fullmatch(r"@[\w.-]+(/[\w.-]+)?", w) for w in who), who
