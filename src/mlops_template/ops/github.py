"""A small GitHub REST client for the workflows: one sticky comment, one issue, one pull request, dispatches,
and the repository ruleset of ``make protect``.

Standard library only (the git helper it uses from ``core.lineage`` too): it runs in trusted jobs that install
nothing else, as ``PYTHONPATH=src python3 -m
mlops_template.cli github ...`` (the Makefile's ``MLOPS_BARE``; ``mlops github`` where the project is installed).
Configured from the variables GitHub Actions sets: ``GITHUB_API_URL`` (default https://api.github.com),
``GITHUB_REPOSITORY`` and a token in ``GITHUB_TOKEN`` (or ``GH_TOKEN``). Every write is an upsert found by a hidden
marker, so repeated runs update instead of duplicating.

    mlops github comment  --number 7 --marker pr-report --body-file report.md
    mlops github issue    --marker drift --title "Drift detected" --label drift --body-file r.md
    mlops github pull     --head retrain/data --base main --title "..." --body-file r.md
    mlops github dispatch --workflow retrain.yml --ref main --input reason=drift
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_template.core.lineage import git

MAX_BODY = 65_000  # GitHub refuses bodies over 65,536 characters
MAX_PAGES = 10  # at 100 per page: the newest 1,000 comments / issues are searched for a marker


# GitHub's 403 answer to POST /pulls when the repository setting is off (the default on new repositories)
PULLS_NOT_PERMITTED = "not permitted to create or approve pull requests"
PULLS_SETTING = (
    'Settings → Actions → General → Workflow permissions → "Allow GitHub Actions to create and approve pull requests"'
)


def origin_url(cwd: Path) -> str:
    """The URL of the git remote ``origin`` in ``cwd``, or ``""`` (no git, no such remote)."""
    return git("remote", "get-url", "origin", cwd=cwd, check=False).strip()


def set_output(**values: str) -> None:
    """Expose ``values`` to later steps and jobs (``$GITHUB_OUTPUT``); nothing outside GitHub Actions. The one
    writer of that file. A value with a line break is written in GitHub's ``name<<delimiter`` form."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    lines = []
    for name, value in values.items():
        if not name or any(c in name for c in "=\r\n<"):
            raise ValueError(f"GitHub output name {name!r}: must be non-empty, without '=', '<' or line breaks")
        text = str(value)
        if "\n" in text or "\r" in text:
            delimiter = f"EOF_{uuid.uuid4().hex}"
            lines.append(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
        else:
            lines.append(f"{name}={text}\n")
    with open(target, "a", encoding="utf-8") as handle:
        handle.writelines(lines)


class GitHubError(RuntimeError):
    """An API call failed; the message says which call, GitHub's answer and what to check."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail

    @property
    def pull_requests_not_permitted(self) -> bool:
        """The 403 GitHub gives when Actions may not create pull requests in this repository."""
        return self.status == 403 and PULLS_NOT_PERMITTED in self.detail


def marker_line(marker: str) -> str:
    return f"<!-- mlops-template:{marker} -->"


def with_marker(body: str, marker: str) -> str:
    tag = marker_line(marker)
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY] + "\n\n… (truncated: the full text is in the workflow run's summary and artifact)"
    return f"{body}\n\n{tag}\n"


@dataclass(frozen=True)
class GitHub:
    api_url: str
    repository: str
    token: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> GitHub:
        env = dict(os.environ if env is None else env)
        token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
        if not token:
            raise GitHubError("no token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`)")
        repository = env.get("GITHUB_REPOSITORY", "")
        if repository.count("/") != 1:
            raise GitHubError(f"GITHUB_REPOSITORY must be owner/name, got {repository!r}")
        return cls(env.get("GITHUB_API_URL") or "https://api.github.com", repository, token)

    # ---- HTTP ----------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.api_url.rstrip('/')}/repos/{self.repository}{path}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            hint = ""
            if err.code == 403 and PULLS_NOT_PERMITTED in detail:
                hint = f" (a repository setting, not the job's permissions: turn on {PULLS_SETTING})"
            elif err.code in (401, 403):
                hint = (
                    " (the token lacks a permission: check the job's `permissions:`; a fork PR's token is "
                    "read-only, which is why fork PRs are commented by the workflow_run commenter)"
                )
            raise GitHubError(f"{method} {path}: HTTP {err.code} {detail}{hint}", err.code, detail) from None
        except urllib.error.URLError as err:
            raise GitHubError(f"{method} {path}: cannot reach {self.api_url}: {err.reason}") from None
        return json.loads(raw) if raw else None

    def _pages(self, path: str, query: str = "") -> Iterator[dict[str, Any]]:
        sep = "&" if query else ""
        for page in range(1, MAX_PAGES + 1):
            items = self.request("GET", f"{path}?{query}{sep}per_page=100&page={page}")
            yield from items
            if len(items) < 100:
                return

    # ---- upserts -------------------------------------------------------------------------------------
    def upsert_comment(self, number: int, marker: str, body: str) -> tuple[str, int]:
        """Edit the comment on issue/PR ``number`` that carries ``marker``, or create it. -> (action, id)."""
        text = with_marker(body, marker)
        for comment in self._pages(f"/issues/{number}/comments"):
            if marker_line(marker) in (comment.get("body") or ""):
                self.request("PATCH", f"/issues/comments/{comment['id']}", {"body": text})
                return "updated", int(comment["id"])
        created = self.request("POST", f"/issues/{number}/comments", {"body": text})
        return "created", int(created["id"])

    def upsert_issue(self, marker: str, title: str, body: str, labels: Sequence[str] = ()) -> tuple[str, int]:
        """Edit the open issue that carries ``marker`` (and ``labels``), or open it. -> (action, number)."""
        text = with_marker(body, marker)
        query = "state=open" + (f"&labels={','.join(labels)}" if labels else "")
        for issue in self._pages("/issues", query):
            if "pull_request" not in issue and marker_line(marker) in (issue.get("body") or ""):
                self.request("PATCH", f"/issues/{issue['number']}", {"title": title, "body": text})
                return "updated", int(issue["number"])
        created = self.request("POST", "/issues", {"title": title, "body": text, "labels": list(labels)})
        return "created", int(created["number"])

    def upsert_pull(self, head: str, base: str, title: str, body: str) -> tuple[str, int]:
        """Edit the open pull request from branch ``head``, or open it. -> (action, number)."""
        owner = self.repository.split("/")[0]
        for pull in self._pages("/pulls", f"state=open&head={owner}:{head}"):
            if pull["head"]["ref"] == head:
                self.request("PATCH", f"/pulls/{pull['number']}", {"title": title, "body": body[:MAX_BODY]})
                return "updated", int(pull["number"])
        created = self.request("POST", "/pulls", {"title": title, "head": head, "base": base, "body": body[:MAX_BODY]})
        return "created", int(created["number"])

    def upsert_ruleset(self, ruleset: dict[str, Any]) -> tuple[str, int]:
        """Update the repository's ruleset named ``ruleset["name"]``, or create it. -> (action, id)."""
        for existing in self._pages("/rulesets", "includes_parents=false"):
            if existing.get("name") == ruleset["name"] and existing.get("source_type", "Repository") == "Repository":
                self.request("PUT", f"/rulesets/{existing['id']}", ruleset)
                return "updated", int(existing["id"])
        created = self.request("POST", "/rulesets", ruleset)
        return "created", int(created["id"])

    def dispatch_workflow(self, workflow: str, ref: str, inputs: dict[str, str] | None = None) -> None:
        self.request("POST", f"/actions/workflows/{workflow}/dispatches", {"ref": ref, "inputs": inputs or {}})


def _body(path: str) -> str:
    return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"KEY=VALUE expected, got {text!r}")
    key, value = text.split("=", 1)
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops github <comment|issue|pull|dispatch>`` (the monitor and retrain targets; mlops_template/cli.py)."""
    sub = parser.add_subparsers(dest="github_command", required=True, metavar="<command>")
    c = sub.add_parser("comment", help="upsert one marked comment on an issue or pull request")
    c.add_argument("--number", type=int, required=True)
    i = sub.add_parser("issue", help="upsert one marked open issue")
    i.add_argument("--title", required=True)
    i.add_argument("--label", action="append", default=[])
    p = sub.add_parser("pull", help="upsert the open pull request from a branch")
    p.add_argument("--head", required=True)
    p.add_argument("--base", default="main")
    p.add_argument("--title", required=True)
    for s in (c, i, p):
        s.add_argument("--body-file", required=True, help="markdown file, or - for stdin")
    for s in (c, i):
        s.add_argument("--marker", required=True, help="hidden marker that finds the item on the next run")
    d = sub.add_parser("dispatch", help="start a workflow_dispatch workflow")
    d.add_argument("--workflow", required=True, help="file name, e.g. retrain.yml")
    d.add_argument("--ref", default="main")
    d.add_argument("--input", action="append", default=[], type=_key_value, help="KEY=VALUE")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        gh = GitHub.from_env()
        if args.github_command == "comment":
            action, ident = gh.upsert_comment(args.number, args.marker, _body(args.body_file))
            print(f"comment {action} on #{args.number} (id {ident})")
        elif args.github_command == "issue":
            action, ident = gh.upsert_issue(args.marker, args.title, _body(args.body_file), args.label)
            print(f"issue #{ident} {action}")
        elif args.github_command == "pull":
            action, ident = gh.upsert_pull(args.head, args.base, args.title, _body(args.body_file))
            print(f"pull request #{ident} {action} ({args.head} -> {args.base})")
        else:
            gh.dispatch_workflow(args.workflow, args.ref, dict(args.input))
            print(f"dispatched {args.workflow} on {args.ref}")
    except (GitHubError, OSError) as err:
        print(f"github: {err}", file=sys.stderr)
        return 1
    return 0
