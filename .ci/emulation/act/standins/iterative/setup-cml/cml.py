#!/usr/bin/env python3
"""Recording stand-in for the `cml` CLI (CML 0.20.x): no network beyond the GitHub API stand-in.

Records argv, working directory, which token variable is set (never its value) and, for
`cml comment create|update FILE`, the markdown it was given and which local images it references,
into $ACT_RECORD_DIR/calls.jsonl. Behaves like the real CLI where it matters to a workflow:
- no token (REPO_TOKEN / GITHUB_TOKEN / --token): error, exit 1;
- $CML_STANDIN_DENY=1: the answer GitHub gives a fork PR's read-only token, exit 1;
- $CML_STANDIN_DENY=publish: image upload fails unless --no-publish is given, exit 1;
- `cml asset publish FILE` prints a (fake) public URL of the file on CML's asset host;
- with $GITHUB_API_URL on 127.0.0.1 (the recording GitHub API stand-in, .ci/emulation/github_api.py) and
  `--target=pr/N`, `comment create|update` talks to it as CML's GitHub driver does: the report gets CML's
  watermark (`![](https://cml.dev/watermark.png#<sha> "CML watermark <title>")`); `update` lists the PR's
  comments (first page only, GitHub's default 30, as CML does), edits the last one that carries the
  watermark, or creates one; the repository comes from --repo (URL or slug) or $GITHUB_REPOSITORY.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, os.environ["ACT_STANDINS"])
from record import record

# Only the API stand-in on this machine is ever called: never the real GitHub (act sets https://api.github.com)
LOOPBACK = re.compile(r"http://(127\.0\.0\.1|localhost)(:\d+)?(/|$)")


def option(options: list[str], name: str) -> str | None:
    for opt in options:
        if opt.startswith(f"--{name}="):
            return opt.split("=", 1)[1]
    return None


def watermark_title(label: str) -> str:
    """CML's title, escaped as its src/watermark.js does (GitHub escapes these in stored comment bodies)."""
    title = f"CML watermark {label}".strip()
    for char in ("_", "*", "[", "<"):
        title = title.replace(char, "\\" + char)
    return title


def api_comment(argv_args: list[str], options: list[str], text: str, token: str) -> tuple[str, str]:
    """`cml comment create|update --target=pr/N` against $GITHUB_API_URL -> (error, comment URL)."""
    target = option(options, "target") or ""
    match = re.fullmatch(r"pr/(\d+)", target)
    if not match:
        return f"the stand-in only posts to --target=pr/N, got {target!r}", ""
    number = int(match.group(1))
    repo = option(options, "repo") or os.environ.get("GITHUB_REPOSITORY", "")
    repo = re.sub(r"^https?://[^/]+/", "", repo).removesuffix(".git").strip("/")
    if repo.count("/") != 1:
        return f"cannot tell the repository from {repo!r}", ""
    sha = option(options, "commit-sha") or os.environ.get("GITHUB_SHA") or "0" * 40
    title = watermark_title(option(options, "watermark-title") or "")
    mark = f'![](https://cml.dev/watermark.png#{sha} "{title}")'
    body = f"{text}\n\n{mark}"
    found = re.compile(r"!\[\]\(https://cml\.dev/watermark\.png#[0-9a-fA-F]+ \"" + re.escape(title) + r"\"\)")
    base = os.environ["GITHUB_API_URL"].rstrip("/") + f"/repos/{repo}"

    def call(method: str, path: str, payload: dict[str, object] | None = None) -> object:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(base + path, data=data, method=method)
        req.add_header("Authorization", f"token {token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    try:
        if argv_args[1] == "update":
            comments = call("GET", f"/issues/{number}/comments")  # one page, as CML's driver lists them
            assert isinstance(comments, list)
            for comment in reversed(comments):
                if found.search(comment.get("body") or ""):
                    call("PATCH", f"/issues/comments/{comment['id']}", {"body": body})
                    return "", f"https://github.com/{repo}/pull/{number}#issuecomment-{comment['id']}"
        created = call("POST", f"/issues/{number}/comments", {"body": body})
        assert isinstance(created, dict)
        return "", f"https://github.com/{repo}/pull/{number}#issuecomment-{created['id']}"
    except urllib.error.HTTPError as err:
        return f"HttpError: {err.code} {err.read().decode(errors='replace')[:300]}", ""


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    options = [a for a in argv if a.startswith("--")]
    token_var = next((v for v in ("REPO_TOKEN", "GITHUB_TOKEN") if os.environ.get(v)), None)
    if any(o.startswith("--token") for o in options):
        token_var = "--token"
    entry: dict[str, object] = {"argv": argv, "cwd": os.getcwd(), "token": token_var}
    if args[:1] == ["comment"] and len(args) >= 3:
        report = Path(args[-1])
        text = report.read_text(encoding="utf-8")
        images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text)
        local = [i for i in images if not re.match(r"[a-z]+://", i)]
        entry |= {
            "report": text,
            "images": {i: (report.parent / i).is_file() for i in local},
        }
    if args[:2] == ["asset", "publish"] and len(args) >= 3:
        entry["asset"] = Path(args[2]).name
    deny = os.environ.get("CML_STANDIN_DENY", "")
    publish = "--no-publish" not in options
    if token_var is None:
        error = "GITHUB_TOKEN or REPO_TOKEN not found"
    elif deny == "1":
        error = "HttpError: Resource not accessible by integration"
    elif deny == "publish" and publish and entry.get("images"):
        error = "Failed to upload images to https://asset.cml.dev: 503"
    else:
        error = ""
    url = "https://github.com/" + os.environ.get("GITHUB_REPOSITORY", "owner/repo") + "/pull/0#issuecomment-1"
    if not error and "report" in entry and LOOPBACK.match(os.environ.get("GITHUB_API_URL", "")):
        token = option(options, "token") or os.environ.get("REPO_TOKEN") or os.environ.get("GITHUB_TOKEN") or ""
        error, url = api_comment(args, options, str(entry["report"]), token)
        entry["posted"] = url
    entry["error"] = error
    record("cml", **entry)
    if error:
        print(f"cml stand-in: {error}", file=sys.stderr)
        return 1
    if "asset" in entry:  # `cml asset publish FILE`: the public URL of the uploaded file
        print(f"https://asset.cml.dev/standin-{entry['asset']}?cml=png")
        return 0
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
