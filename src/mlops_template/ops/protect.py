"""``make protect``: apply the repository ruleset in .github/rulesets/main.json through GitHub's REST API.

The ruleset makes review the judge of the judge: on the default branch it requires a pull request, the approval
of the code owners (.github/CODEOWNERS: workflows, Makefile, dvc.yaml, params.yaml, gate and comparison code),
and the PR workflow's checks (the gate job's check run, named by the job's ``name:`` in pr.yml).

    GITHUB_TOKEN=$(gh auth token) make protect          # or a fine-grained PAT with "Administration: write"

Idempotent: a ruleset of the same name is updated in place (``PUT .../rulesets/{id}``), otherwise created
(``POST .../rulesets``). The repository is ``GITHUB_REPOSITORY`` (owner/name), else the ``origin`` remote's
GitHub URL; the API is ``GITHUB_API_URL`` (default https://api.github.com). A workflow's ``GITHUB_TOKEN`` cannot
do this (rulesets need the Administration permission): run it once as a repository admin. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from mlops_template.ops.github import GitHub, GitHubError, origin_url

RULESET = Path(".github/rulesets/main.json")
CODEOWNERS = Path(".github/CODEOWNERS")
PLACEHOLDER = "@your-org/ml-owners"  # the team the template ships in CODEOWNERS; a fork replaces it
PLAN_HINT = (
    " Rulesets on a private repository need GitHub Pro, Team or Enterprise (public repositories: every plan);"
    " the token needs the repository's Administration permission (admin)."
)


class ProtectError(RuntimeError):
    """Bad input or a refused call; the message says what to do."""


def repository_from_git(cwd: Path) -> str:
    """``owner/name`` from the ``origin`` remote's GitHub URL (https or ssh), or ``""``."""
    match = re.search(r"github\.com[:/]+([^/\s]+/[^/\s]+?)(?:\.git)?/?$", origin_url(cwd))
    return match.group(1) if match else ""


def load_ruleset(path: Path) -> dict[str, Any]:
    try:
        ruleset = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProtectError(f"{path} not found: run `make protect` from the repository's root") from None
    except json.JSONDecodeError as err:
        raise ProtectError(f"{path} is not valid JSON: line {err.lineno}, column {err.colno}: {err.msg}") from None
    if not isinstance(ruleset, dict) or not isinstance(ruleset.get("name"), str) or not ruleset["name"]:
        raise ProtectError(f'{path}: a ruleset is a JSON object with a non-empty "name" (how it is found again)')
    if not isinstance(ruleset.get("rules"), list) or not ruleset["rules"]:
        raise ProtectError(f'{path}: "rules" must be a non-empty list')
    return ruleset


def check_codeowners(path: Path) -> None:
    """Code-owner review is only as good as CODEOWNERS: refuse the template's placeholder team."""
    if not path.is_file():
        raise ProtectError(f"{path} not found: the ruleset requires code-owner review, so CODEOWNERS must exist")
    if PLACEHOLDER in path.read_text(encoding="utf-8"):
        raise ProtectError(
            f"{path} still names the template's placeholder team {PLACEHOLDER}: replace it with your team or users "
            f"(e.g. sed -i 's|{PLACEHOLDER}|@acme/ml-leads|' {path}), commit, then run make protect again"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops protect`` (``make protect``; mlops_template/cli.py)."""
    parser.add_argument("--ruleset", type=Path, default=RULESET)
    parser.add_argument("--codeowners", type=Path, default=CODEOWNERS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    try:
        ruleset = load_ruleset(args.ruleset)
        check_codeowners(args.codeowners)
        if not (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")):
            raise ProtectError(
                "no token: set GITHUB_TOKEN to a token of a repository admin, e.g. "
                "`GITHUB_TOKEN=$(gh auth token) make protect` or a fine-grained PAT with Administration: write"
            )
        if not env.get("GITHUB_REPOSITORY"):
            env["GITHUB_REPOSITORY"] = repository_from_git(Path.cwd())
            if not env["GITHUB_REPOSITORY"]:
                raise ProtectError(
                    "cannot tell the repository: set GITHUB_REPOSITORY=owner/name (origin is not GitHub)"
                )
        gh = GitHub.from_env(env)
        action, ident = gh.upsert_ruleset(ruleset)
    except GitHubError as err:
        print(f"protect: {err}.{PLAN_HINT}", file=sys.stderr)
        return 1
    except ProtectError as err:
        print(f"protect: {err}", file=sys.stderr)
        return 2
    print(f"protect: ruleset {ruleset['name']!r} {action} on {gh.repository} (id {ident})")
    return 0
