#!/usr/bin/env python3
"""Recording stand-in for the `cml` CLI (CML 0.20.x): no network, no GitHub API.

Records argv, working directory, which token variable is set (never its value) and, for
`cml comment create|update FILE`, the markdown it was given and which local images it references,
into $ACT_RECORD_DIR/calls.jsonl. Behaves like the real CLI where it matters to a workflow:
- no token (REPO_TOKEN / GITHUB_TOKEN / --token): error, exit 1;
- $CML_STANDIN_DENY=1: the answer GitHub gives a fork PR's read-only token, exit 1;
- $CML_STANDIN_DENY=publish: image upload fails unless --no-publish is given, exit 1.
"""

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, os.environ["ACT_STANDINS"])
from record import record


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
    entry["error"] = error
    record("cml", **entry)
    if error:
        print(f"cml stand-in: {error}", file=sys.stderr)
        return 1
    print("https://github.com/" + os.environ.get("GITHUB_REPOSITORY", "owner/repo") + "/pull/0#issuecomment-1")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
