"""Nothing from a workflow input, a branch name, a tag, an artifact or an MLflow tag is ever executed.

Real `make` in a copy of the repository, fed hostile values through every path the workflows use: the
dispatch inputs (`rollback_to`, `log`, `reason`), the Make variables the workflows set (BASE, VERSION, IMAGE,
ROLLBACK_TO, RETRAIN_REF, LOG), branch names, and the MLflow tags a rollback redeploys. Each payload would
create a file named PWNED if any shell or Make expansion ran it; none may appear, and invalid values are
refused with an error that names the input.

Two layers are tested separately, so that each test is fast and can fail for one reason:
- the shell/Make layer, with RUN= a recorder that stores the argv and environment a recipe hands to the CLI
  (the recipe runs exactly as written, only the program at the end is swapped);
- the CLI layer, with the project's real CLI (validation, the rollback record, the GitHub dispatch against
  the recording API stand-in, the MLflow registry replaced by a stand-in that returns hostile tags).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulation.github_api import GitHubStandIn
from tests.support import REPO_ROOT, copy_repo, env_with_venv

MARK = "PWNED"
# each one creates ./PWNED if a shell (or Make's $(shell)) ever evaluates it; cwd is the repository copy
PAYLOADS = {
    "double-quote break": f'1";touch {MARK};"',
    "single-quote break": f"1';touch {MARK};'",
    "command substitution": f"$(touch {MARK})",
    "backticks": f"`touch {MARK}`",
    "make shell function": f"$(shell touch {MARK})",
    "newline": f"1\ntouch {MARK}",
    "backticks, no spaces": f"a`touch${{IFS}}{MARK}`",
}
# branch names git accepts (no spaces in ref names: ${IFS} stands in for them)
BRANCHES = [f"a`touch${{IFS}}{MARK}`", f"a$(touch${{IFS}}{MARK})", f'a";touch${{IFS}}{MARK};"']
# (target, variable, benign values of the other variables the recipe needs)
CASES = [
    ("pr-report", "BASE", {}),
    ("release-promote", "VERSION", {}),
    ("release-promote", "IMAGE", {}),
    ("gitops-publish", "IMAGE", {}),
    ("gitops-publish", "VERSION", {"IMAGE": "ghcr.io/o/r@sha256:" + "a" * 64}),
    ("rollback", "ROLLBACK_TO", {}),
    ("rollback", "VERSION", {}),
    ("deploy", "IMAGE", {}),
    ("monitor", "LOG", {}),
    ("monitor", "PREDICTION_LOG", {}),  # monitor.yml's `log` input / PREDICTION_LOG_URL variable
]
WATCHED = sorted({var for _, var, _ in CASES} | {"RETRAIN_REF"})

RECORDER = """\
#!/usr/bin/env python3
import json, os, sys
with open(os.environ["RECORD"], "a", encoding="utf-8") as handle:
    env = {k: os.environ.get(k) for k in %r}
    handle.write(json.dumps({"argv": sys.argv[1:], "env": env}) + "\\n")
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("hostile") / "repo")


@pytest.fixture(autouse=True)
def one_failure_fails_one_test(repo: Path) -> Iterator[None]:
    """The copy is shared by the module: a PWNED left by a failing test must not fail the next ones."""
    yield
    for path in pwned(repo):
        path.unlink()


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "record"
    path.parent.mkdir()
    path.write_text(RECORDER % (WATCHED,), encoding="utf-8")
    path.chmod(0o755)
    return path


def pwned(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob(f"{MARK}*")]


def make(repo: Path, *args: str, env: dict[str, str] | None = None, run: str = "") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in env_with_venv().items() if k not in {"MLFLOW_TRACKING_URI", *WATCHED}}
    base.pop("DEPLOY_TARGET", None)
    return subprocess.run(
        ["make", "--no-print-directory", *args, "SETUP=", f"RUN={run}"],
        cwd=repo,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


# ------------------------------------------------------------------------------ the shell / Make layer
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize(("target", "var", "others"), CASES, ids=[f"{t}-{v}" for t, v, _ in CASES])
def test_recipes_hand_the_value_over_verbatim_and_run_nothing(
    repo: Path, recorder: Path, tmp_path: Path, target: str, var: str, others: dict[str, str], payload: str
) -> None:
    """As the workflows pass them (the step's environment): the CLI gets the exact value, as one argument
    or in its environment, and no shell or Make expansion ran any part of it."""
    log = tmp_path / "calls.jsonl"
    result = make(repo, target, env={var: payload, "RECORD": str(log), **others}, run=str(recorder))
    assert not pwned(repo, tmp_path), result.stdout + result.stderr
    calls = records(log)
    assert calls, f"make {target} ran no command: {result.stdout}{result.stderr}"
    assert result.returncode == 0, result.stdout + result.stderr
    # the value reached the CLI intact: as an argument, or in the environment the CLI reads it from
    assert any(payload in call["argv"] or call["env"][var] == payload for call in calls), calls


@pytest.mark.parametrize("payload", [p for k, p in PAYLOADS.items() if k != "make shell function"])
@pytest.mark.parametrize("var", ["VERSION", "ROLLBACK_TO", "IMAGE", "BASE", "LOG"])
def test_command_line_assignments_run_nothing_either(
    repo: Path, recorder: Path, tmp_path: Path, var: str, payload: str
) -> None:
    """`make rollback VERSION=...` typed by a person: quotes and substitutions stay data. (Make itself
    evaluates $(shell ...) in a command-line assignment, which is why workflows never pass one: see
    test_workflows_pass_untrusted_values_only_in_the_environment.)"""
    log = tmp_path / "calls.jsonl"
    target = {"BASE": "pr-report", "LOG": "monitor", "IMAGE": "deploy"}.get(var, "rollback")
    result = make(repo, target, f"{var}={payload}", env={"RECORD": str(log)}, run=str(recorder))
    assert not pwned(repo, tmp_path), result.stdout + result.stderr
    assert records(log) or "set IMAGE" in result.stderr  # ran, or refused an IMAGE that make expanded to ""


def test_workflows_pass_untrusted_values_only_in_the_environment() -> None:
    """No `run:` hands make an assignment built from a variable (make would expand it on export), and the
    Makefile never pastes an untrusted variable into a recipe with $(VAR)."""
    import re

    import yaml

    for path in sorted((REPO_ROOT / ".github/workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                run = step.get("run", "")
                assert "${{" not in run, f"{path.name}: expression in a script: {run!r}"
                for value in re.findall(r"\b[A-Z_]+=(\S+)", run):
                    assert "$" not in value, f"{path.name}: make argument from a variable: {run!r}"
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    untrusted = "|".join(
        [
            "BASE",
            "VERSION",
            "IMAGE",
            "ROLLBACK_TO",
            "ROLLBACK_VERSION",
            "RETRAIN_REF",
            "LOG",
            "RETRAIN_APP_TOKEN",
            "RETRAIN_REASON",
        ]
    )
    pasted = re.findall(rf"\$[({{](?:{untrusted})[)}}]", makefile)
    assert not pasted, f"the Makefile expands untrusted variables as text: {pasted}"
    sourced = re.findall(r"(?:^\t|&& |; )(?:source|\.) \S+", makefile, re.M)
    assert not sourced, f"a recipe sources a file (write JSON and let the CLI read it): {sourced}"


# ------------------------------------------------------------------------------ the CLI layer (real CLI)
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("var", ["ROLLBACK_TO", "VERSION"])
def test_rollback_refuses_anything_but_a_version_naming_the_input(repo: Path, var: str, payload: str) -> None:
    result = make(repo, "rollback", env={var: payload})
    assert result.returncode != 0
    assert f"{var}=" in result.stderr and "is not a model version" in result.stderr, result.stderr
    assert "positive integer" in result.stderr and "previous" in result.stderr
    assert "Traceback" not in result.stderr
    assert not pwned(repo)


def test_promote_and_gitops_publish_refuse_a_hostile_version_or_image(repo: Path) -> None:
    payload = PAYLOADS["double-quote break"]
    promote = make(repo, "release-promote", env={"VERSION": payload})
    assert promote.returncode != 0 and "VERSION=" in promote.stderr and "is not a model version" in promote.stderr
    digest = "ghcr.io/o/r@sha256:" + "a" * 64
    gitops = make(repo, "gitops-publish", env={"VERSION": payload, "IMAGE": digest})
    assert gitops.returncode != 0 and "VERSION=" in gitops.stderr, gitops.stderr
    image = make(repo, "gitops-publish", env={"IMAGE": PAYLOADS["backticks"]})
    assert image.returncode != 0 and "is not pinned by digest" in image.stderr, image.stderr
    for result in (promote, gitops, image):
        assert "Traceback" not in result.stderr
    assert not pwned(repo)


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as api:
        yield api


@pytest.mark.parametrize("branch", BRANCHES)
def test_a_hostile_branch_name_is_dispatched_as_data(
    repo: Path, recorder: Path, tmp_path: Path, github: GitHubStandIn, branch: str
) -> None:
    """The monitor dispatches retraining on its own branch (RETRAIN_REF = github.ref_name) and the PR job
    compares with origin/<base branch>: a branch name git accepts reaches GitHub and the CLI verbatim."""
    subprocess.run(["git", "check-ref-format", "--branch", branch], check=True, capture_output=True)
    env = {
        "RETRAIN_REF": branch,
        "RETRAIN_REASON": PAYLOADS["command substitution"],
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "acme/repo",
        "GITHUB_TOKEN": "t",
    }
    result = make(repo, "retrain-dispatch", env=env)
    assert result.returncode == 0, result.stderr
    (call,) = github.calls("POST", r"/dispatches$")
    assert call["json"] == {"ref": branch, "inputs": {"reason": PAYLOADS["command substitution"]}}
    log = tmp_path / "calls.jsonl"
    make(repo, "pr-report", env={"BASE": f"origin/{branch}", "RECORD": str(log)}, run=str(recorder))
    assert f"origin/{branch}" in records(log)[0]["argv"]
    assert not pwned(repo, tmp_path)


# A registry stand-in: `mlops release` in the copy imports it at start-up
# (sitecustomize on PYTHONPATH) and gets the MLflow tags of $HOSTILE_TAGS for every version.
REGISTRY_STANDIN = """\
import json, os
if os.environ.get("HOSTILE_TAGS"):
    from mlops_template.ops.release import registry
    registry.champion = lambda params, alias=registry.CHAMPION: "1"
    registry.promote = lambda params, version, alias=registry.CHAMPION: ("2", json.loads(os.environ["HOSTILE_TAGS"]))
"""


def test_hostile_mlflow_tags_are_never_sourced_or_run(repo: Path, tmp_path: Path) -> None:
    """`make rollback` redeploys the image and bento recorded as MLflow tags on the version: they travel in
    rollback.json, read back by the CLI, and reach deploy as data (the old rollback.env was sourced)."""
    standin = tmp_path / "registry-standin"
    standin.mkdir()
    (standin / "sitecustomize.py").write_text(REGISTRY_STANDIN, encoding="utf-8")
    tags = {"image": f'ghcr.io/o/r:1";touch {MARK};"', "bento": f"svc:$(touch {MARK})`touch {MARK}`"}
    env = {
        "HOSTILE_TAGS": json.dumps(tags),
        "PYTHONPATH": str(standin),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "ROLLBACK_TO": "previous",
        "GITOPS_REMOTE": str(tmp_path / "deploy.git"),
    }
    result = make(repo, "rollback", "GITOPS=1", env=env)
    record = json.loads((repo / ".cache/release/rollback.json").read_text(encoding="utf-8"))
    assert record == {"image": tags["image"], "bento": tags["bento"], "version": "1"}
    assert "deploy: skipped" in result.stdout, result.stdout + result.stderr  # deploy got it, no target set
    # the GitOps pin refuses an image that is not REPO@sha256:<digest>, naming it
    assert result.returncode != 0 and "is not pinned by digest" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not pwned(repo, tmp_path)
    assert not (repo / ".cache/release/rollback.env").exists()


def test_the_check_can_fail(recorder: Path, tmp_path: Path) -> None:
    """A recipe that pastes the value with $(VAR), as the old rollback did, runs the payload: seen."""
    repo = tmp_path / "old"
    repo.mkdir()
    (repo / "Makefile").write_text(
        'SHELL := bash\nold-rollback:\n\t$(RUN) rollback --version "$(ROLLBACK_TO)"\n', encoding="utf-8"
    )
    log = tmp_path / "calls.jsonl"
    env = {"ROLLBACK_TO": PAYLOADS["double-quote break"], "RECORD": str(log)}
    make(repo, "old-rollback", env=env, run=str(recorder))
    assert pwned(repo), "the old recipe should have run the payload"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
