"""A recording stand-in for the GitHub REST API: a real HTTP server on 127.0.0.1 that keeps state.

Workflows under act talk to it through ``GITHUB_API_URL`` (act passes ``--env GITHUB_API_URL=...``);
``mlops_template.ops.github`` is the client the workflows use. Every request is recorded (method, path, query,
JSON body, which token) so tests assert on what a workflow asked GitHub to do. It answers like GitHub where
a workflow depends on it:

- no ``Authorization`` header: 401; a token in ``readonly_tokens`` (a fork PR's token): 403 "Resource not
  accessible by integration" on every write;
- a job's GITHUB_TOKEN as the act harness hands it out (github_token.py: it carries the job's ``permissions:``):
  403 "Resource not accessible by integration" when the call needs a permission the token lacks, as GitHub's
  installation tokens get (issues, pull-requests, comments on either, actions: write for a workflow dispatch,
  contents: write for a repository dispatch; reads are checked only on a private repository). Other tokens
  (PATs, App tokens) are not checked;
- the repository setting "Allow GitHub Actions to create and approve pull requests" (``allow_pull_requests``,
  off by default as on a new repository): off, ``POST /pulls`` with a job's GITHUB_TOKEN gets GitHub's 403
  "GitHub Actions is not permitted to create or approve pull requests.";
- issues and pull requests share one number sequence; ``GET .../issues`` lists both, pull requests carrying
  a ``pull_request`` key, as GitHub does;
- comments, issues and pull requests can be listed, created and edited; workflow and repository dispatches
  answer 204 and are only recorded;
- repository rulesets (``make protect``): listed, created (a name is unique: 422 otherwise, as GitHub), read
  and replaced by id; the rule types and enforcement values are checked against GitHub's.

Use it in-process (``with GitHubStandIn() as gh: gh.url``) or as a process:
``python -m emulation.github_api --port P --record FILE``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulation.github_token import NOT_ACCESSIBLE, allows, decode

NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
READ_ONLY = {"message": NOT_ACCESSIBLE}
NOT_ACCESSIBLE_DOC = "https://docs.github.com/rest"
ACTIONS_MAY_NOT_OPEN_PULLS = {
    "message": "GitHub Actions is not permitted to create or approve pull requests.",
    "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
    "status": "403",
}
RULE_TYPES = {  # GitHub's repository ruleset rule types (REST API "Repository rules")
    "creation",
    "update",
    "deletion",
    "required_linear_history",
    "merge_queue",
    "required_deployments",
    "required_signatures",
    "pull_request",
    "required_status_checks",
    "non_fast_forward",
    "commit_message_pattern",
    "commit_author_email_pattern",
    "committer_email_pattern",
    "branch_name_pattern",
    "tag_name_pattern",
    "file_path_restriction",
    "max_file_path_length",
    "file_extension_restriction",
    "max_file_size",
    "workflows",
    "code_scanning",
    "copilot_code_review",
}


class GitHubStandIn:
    def __init__(
        self,
        port: int = 0,
        record: Path | None = None,
        readonly_tokens: Iterable[str] = (),
        owner_repo: str = "",
        *,
        allow_pull_requests: bool = False,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.issues: dict[int, dict[str, Any]] = {}  # issues and pull requests, by number
        self.comments: dict[int, dict[str, Any]] = {}  # by id
        self.rulesets: dict[int, dict[str, Any]] = {}  # by id
        self.record = record
        self.readonly_tokens = set(readonly_tokens)
        self.owner_repo = owner_repo
        self.allow_pull_requests = allow_pull_requests  # "Allow GitHub Actions to create and approve pull requests"
        self._lock = threading.Lock()
        self._next_number = 1
        self._next_comment = 1000
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # quiet: the request log is not wanted
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, payload = stand_in.handle(self.command, self.path, raw, self.headers.get("Authorization"))
                body = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815 (http.server's names)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- what tests read ---------------------------------------------------------------------------
    def calls(self, method: str | None = None, path_pattern: str = "") -> list[dict[str, Any]]:
        return [
            r for r in self.requests if (method is None or r["method"] == method) and re.search(path_pattern, r["path"])
        ]

    def pulls(self) -> list[dict[str, Any]]:
        return [i for i in self.issues.values() if "pull_request" in i]

    def plain_issues(self) -> list[dict[str, Any]]:
        return [i for i in self.issues.values() if "pull_request" not in i]

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue_number"] == number]

    def add_pull(self, number: int, head: str, base: str = "main", head_sha: str = "") -> dict[str, Any]:
        """Seed a pull request (one that a test pretends was opened by a person)."""
        with self._lock:
            pull = self._new_issue(number, {"title": f"PR {number}", "body": ""})
            pull |= {"head": {"ref": head, "sha": head_sha}, "base": {"ref": base}, "pull_request": {}}
            self._next_number = max(self._next_number, number + 1)
            return pull

    # ---- the API -----------------------------------------------------------------------------------
    def handle(self, method: str, target: str, raw: bytes, auth: str | None) -> tuple[int, Any]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return 400, {"message": "Problems parsing JSON"}
        token = (auth or "").split(" ", 1)[-1] if auth else None
        entry = {"method": method, "path": parts.path, "query": query, "json": body, "token": bool(token)}
        claims = decode(token)
        if claims is not None:
            entry["job"] = claims.get("job")
        with self._lock:
            self.requests.append(entry)
            if self.record is not None:
                with self.record.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")
            if not token:
                return 401, {"message": "Requires authentication"}
            if method != "GET" and token in self.readonly_tokens:
                return 403, READ_ONLY
            needs = self._needs(method, parts.path)
            if needs and not any(allows(token, scope, level) for scope, level in needs):
                entry["denied"] = " or ".join(f"{scope}: {level}" for scope, level in needs)
                return 403, {**READ_ONLY, "documentation_url": NOT_ACCESSIBLE_DOC}
            opens_pull = method == "POST" and parts.path.endswith("/pulls")
            if claims is not None and opens_pull and not self.allow_pull_requests:
                entry["denied"] = "Allow GitHub Actions to create and approve pull requests: off"
                return 403, ACTIONS_MAY_NOT_OPEN_PULLS
            return self._route(method, parts.path, query, body if isinstance(body, dict) else {})

    def _needs(self, method: str, path: str) -> list[tuple[str, str]]:
        """The permissions (any one of them) a job's GITHUB_TOKEN needs for this call, as GitHub documents them."""
        level = "read" if method == "GET" else "write"
        repo = re.fullmatch(r"/repos/[^/]+/[^/]+(/.*)?", path)
        if repo is None:
            return []
        rest = repo.group(1) or ""
        either = [("issues", level), ("pull-requests", level)]  # an issue comment on a pull request: either one

        def on(number: int) -> list[tuple[str, str]]:
            return either if "pull_request" in self.issues.get(number, {}) else [("issues", level)]

        if rest == "/issues":
            return [("issues", level)]
        if rest == "/pulls" or re.fullmatch(r"/pulls/\d+", rest):
            return [("pull-requests", level)]
        if m := re.fullmatch(r"/issues/(\d+)(?:/comments)?", rest):
            return on(int(m.group(1)))
        if m := re.fullmatch(r"/issues/comments/(\d+)", rest):
            comment = self.comments.get(int(m.group(1)))
            return on(comment["issue_number"]) if comment else either
        if re.fullmatch(r"/actions/workflows/[^/]+/dispatches", rest):
            return [("actions", "write")]
        if rest == "/dispatches":
            return [("contents", "write")]
        if rest == "/rulesets" or rest.startswith("/rulesets/"):
            return [("administration", level)]  # no GITHUB_TOKEN has it: `make protect` needs an admin's token
        return [("contents", level)]

    def _route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m:
            return 404, NOT_FOUND
        rest = m.group(2) or ""
        if rest == "/issues" and method == "GET":
            return 200, self._list(self.issues.values(), query, labels=True)
        if rest == "/pulls" and method == "GET":
            head = query.get("head", "").split(":")[-1]
            return 200, self._list([p for p in self.pulls() if not head or head == p["head"]["ref"]], query)
        if rest == "/issues" and method == "POST":
            if not body.get("title"):
                return 422, {"message": "Validation Failed: title"}
            return 201, self._new_issue(self._take_number(), body)
        if rest == "/pulls" and method == "POST":
            missing = [k for k in ("title", "head", "base") if not body.get(k)]
            if missing:
                return 422, {"message": f"Validation Failed: {', '.join(missing)}"}
            if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in self.pulls()):
                return 422, {"message": f"A pull request already exists for {body['head']}."}
            pull = self._new_issue(self._take_number(), body)
            pull |= {"head": {"ref": body["head"], "sha": ""}, "base": {"ref": body["base"]}, "pull_request": {}}
            return 201, pull
        if route := re.fullmatch(r"/(issues|pulls)/(\d+)", rest):
            issue = self.issues.get(int(route.group(2)))
            if issue is None:
                return 404, NOT_FOUND
            if method == "PATCH":
                issue.update({k: v for k, v in body.items() if k in {"title", "body", "state", "labels"}})
            return 200, issue
        if route := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(route.group(1))
            if number not in self.issues:
                return 404, NOT_FOUND
            if method == "GET":
                return 200, self._list(self.comments_on(number), query)
            if method == "POST":
                comment = {"id": self._next_comment, "issue_number": number, "body": body.get("body", "")}
                self._next_comment += 1
                self.comments[comment["id"]] = comment
                return 201, comment
        if route := re.fullmatch(r"/issues/comments/(\d+)", rest):
            comment = self.comments.get(int(route.group(1)))
            if comment is None:
                return 404, NOT_FOUND
            if method == "PATCH":
                comment["body"] = body.get("body", comment["body"])
            return 200, comment
        if rest == "/rulesets" or rest.startswith("/rulesets/"):
            return self._rulesets(method, rest, body)
        if re.fullmatch(r"/actions/workflows/[^/]+/dispatches", rest) and method == "POST":
            return (204, None) if body.get("ref") else (422, {"message": "Validation Failed: ref"})
        if rest == "/dispatches" and method == "POST":
            return (204, None) if body.get("event_type") else (422, {"message": "Validation Failed: event_type"})
        return 404, NOT_FOUND

    def _rulesets(self, method: str, rest: str, body: dict[str, Any]) -> tuple[int, Any]:
        if rest == "/rulesets" and method == "GET":
            return 200, [
                {k: r[k] for k in ("id", "name", "target", "source_type", "enforcement")}
                for r in self.rulesets.values()
            ]
        route = re.fullmatch(r"/rulesets/(\d+)", rest)
        current = self.rulesets.get(int(route.group(1))) if route else None
        if route and current is None:
            return 404, NOT_FOUND
        if method == "GET" and current is not None:
            return 200, current
        if not ((method == "POST" and rest == "/rulesets") or (method == "PUT" and current is not None)):
            return 404, NOT_FOUND
        problem = self._ruleset_problem(body, current)
        if problem:
            return 422, {"message": f"Invalid request.\n\n{problem}"}
        ruleset = {**body, "id": current["id"] if current else 42 + len(self.rulesets), "source_type": "Repository"}
        self.rulesets[ruleset["id"]] = ruleset
        return (200 if current else 201), ruleset

    def _ruleset_problem(self, body: dict[str, Any], current: dict[str, Any] | None) -> str:
        if not body.get("name"):
            return "name is missing"
        if any(r["name"] == body["name"] and r is not current for r in self.rulesets.values()):
            return "Name must be unique"
        if body.get("enforcement") not in ("active", "evaluate", "disabled"):
            return f"enforcement {body.get('enforcement')!r} is not one of active, evaluate, disabled"
        unknown = [r.get("type") for r in body.get("rules", []) if r.get("type") not in RULE_TYPES]
        return f"unknown rule type(s): {unknown}" if unknown else ""

    def _take_number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _new_issue(self, number: int, body: dict[str, Any]) -> dict[str, Any]:
        labels = [{"name": name} for name in body.get("labels", [])]
        issue = {"number": number, "title": body.get("title", ""), "body": body.get("body", ""), "state": "open"}
        issue["labels"] = labels
        self.issues[number] = issue
        return issue

    @staticmethod
    def _list(items: Iterable[dict[str, Any]], query: dict[str, str], labels: bool = False) -> list[dict[str, Any]]:
        state = query.get("state", "open")
        wanted = {x for x in query.get("labels", "").split(",") if x} if labels else set()
        out = []
        for item in items:
            if "state" in item and state != "all" and item["state"] != state:
                continue
            if wanted and not wanted <= {lab["name"] for lab in item.get("labels", [])}:
                continue
            out.append(item)
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
        return out[(page - 1) * per_page : page * per_page]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", type=Path, required=True, help="append every request to this JSONL file")
    parser.add_argument("--readonly-token", action="append", default=[], help="a token that may only read")
    parser.add_argument(
        "--allow-pull-requests", action="store_true", help='"Allow GitHub Actions to create and approve pull requests"'
    )
    args = parser.parse_args()
    stand_in = GitHubStandIn(args.port, args.record, args.readonly_token, allow_pull_requests=args.allow_pull_requests)
    print(stand_in.url, flush=True)
    stand_in.server.serve_forever()


if __name__ == "__main__":
    main()
