"""The GITHUB_TOKEN of one job, as the act harness hands it out: it says what GitHub's token would allow.

GitHub gives every job its own installation token whose permissions are the job's ``permissions:`` (else the
workflow's, else the repository's default), capped at read for a pull request from a fork. act has one
global token, so the harness (act/harness.py) computes each job's permissions from the workflow file and gives
the job a self-describing token: ``ghs_act_`` + base64url(JSON ``{"job", "permissions", "private", "fork"}``).
The stand-ins enforce it: the GitHub API stand-in (github_api.py) answers 403 "Resource not accessible by
integration" to a call the token does not allow; the actions/checkout and actions/download-artifact
stand-ins fail as the real actions do. Any other token (a PAT or App token from a secret) is not checked.

Standard library only: the stand-ins run it with the host's python3, as a command:
``python3 github_token.py allows SCOPE LEVEL`` (token in $TOKEN): exit 0 if allowed, 3 if not.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

PREFIX = "ghs_act_"
# https://docs.github.com/actions/reference/workflows-and-actions/workflow-syntax#permissions
SCOPES = (
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
)
# The default of a new repository (Settings > Actions > Workflow permissions: "Read repository contents and
# packages permissions"), used when neither the workflow nor the job says `permissions:`.
RESTRICTED_DEFAULT = {"contents": "read", "packages": "read"}
LEVELS = {"none": 0, "read": 1, "write": 2}
NOT_ACCESSIBLE = "Resource not accessible by integration"


def parse_permissions(value: object, where: str) -> dict[str, str]:
    """``permissions:`` as written (``read-all``, ``write-all``, ``{}`` or a mapping) -> ``{scope: level}``.

    Unlisted scopes are ``none`` (GitHub's rule as soon as ``permissions:`` is given)."""
    if value in ("read-all", "write-all"):
        return dict.fromkeys(SCOPES, str(value).removesuffix("-all"))
    if value is None or value == {}:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: permissions must be read-all, write-all or a mapping, not {value!r}")
    out = {}
    for scope, level in value.items():
        if scope not in SCOPES or level not in LEVELS:
            raise ValueError(f"{where}: unknown permission {scope}: {level} (scopes: {', '.join(SCOPES)})")
        if level != "none":
            out[str(scope)] = str(level)
    return out


def job_permissions(
    workflow: Mapping[str, Any], job: str, *, fork: bool = False, default: Mapping[str, str] = RESTRICTED_DEFAULT
) -> dict[str, str]:
    """The permissions of ``job``'s GITHUB_TOKEN: the job's ``permissions:``, else the workflow's, else the
    repository default; a pull request from a fork gets at most read (GitHub's rule, whatever is asked)."""
    spec = (workflow.get("jobs") or {}).get(job) or {}
    if "permissions" in spec:
        perms = parse_permissions(spec["permissions"], f"jobs.{job}")
    elif "permissions" in workflow:
        perms = parse_permissions(workflow["permissions"], "the workflow")
    else:
        perms = dict(default)
    if fork:
        perms = dict.fromkeys(perms, "read")
    return perms


def encode(job: str, permissions: Mapping[str, str], *, private: bool, fork: bool = False) -> str:
    claims = {"job": job, "permissions": dict(permissions), "private": private, "fork": fork}
    return PREFIX + base64.urlsafe_b64encode(json.dumps(claims, sort_keys=True).encode()).decode().rstrip("=")


def decode(token: str | None) -> dict[str, Any] | None:
    """The claims of a harness job token; None for any other token (not checked: a PAT, an App token)."""
    if not token or not token.startswith(PREFIX):
        return None
    body = token[len(PREFIX) :]
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) and isinstance(claims.get("permissions"), dict) else None


def allows(token: str | None, scope: str, level: str) -> bool:
    """Whether ``token`` may do what needs ``scope: level``. On a public repository anything may read."""
    claims = decode(token)
    if claims is None:
        return True
    if level == "read" and not claims.get("private", True):
        return True
    return LEVELS[claims["permissions"].get(scope, "none")] >= LEVELS[level]


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "allows" or argv[2] not in ("read", "write"):
        print("usage: TOKEN=... github_token.py allows SCOPE read|write", file=sys.stderr)
        return 2
    return 0 if allows(os.environ.get("TOKEN"), argv[1], argv[2]) else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
