"""Whose rules decide a pull request: the base branch's ``compare:`` section, never the candidate's.

A pull request may change ``compare:`` (margins, floors, the primary metric); the report shows that as a
proposal which applies after merge, and the gate applies the base branch's policy. The base's
``params.yaml`` is read from git (``git show BASE:params.yaml``) and validated by the one loader
(:func:`~mlops_template.core.config.parse_params`).

Also decides whether the two models are comparable at all: a pull request that changes the task, the
target or the data source (e.g. a team adopting the template with its own data while ``main`` still holds
the demo) gets the candidate's metrics and a gate of absolute limits only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_template.core.config import CompareParams, ConfigError, Params, parse_params
from mlops_template.core.lineage import git_show
from mlops_template.experiment.baseline import BaselineError, resolve_sha
from mlops_template.experiment.diffs import Change, params_diff


@dataclass(frozen=True)
class BasePolicy:
    ref: str
    sha: str
    raw: dict[str, Any]  # the base params.yaml as parsed YAML
    params: Params | None  # None when it does not load with this code
    compare: CompareParams  # the policy the gate applies
    notes: list[str] = field(default_factory=list)


def policy_from_raw(raw: dict[str, Any], origin: str) -> tuple[Params | None, CompareParams, list[str]]:
    """The base's params and policy. When the whole file does not load with this code (e.g. the PR renamed a
    params key), its ``compare:`` section alone is used; when that fails too, the code's defaults."""
    try:
        params = parse_params(raw, origin=origin)
        return params, params.compare, []
    except ConfigError as err:
        whole = str(err)
    try:
        compare = CompareParams.model_validate(raw.get("compare") or {})
        note = f"the base params.yaml does not load with the candidate's code, so only its `compare:` applies ({whole})"
        return None, compare, [note]
    except Exception as err:  # any invalid section: the default policy, with a note
        note = f"neither the base params.yaml nor its `compare:` section loads ({type(err).__name__}); default policy"
        return None, CompareParams(), [note]


def read_base_policy(ref: str, repo: Path = Path(".")) -> BasePolicy:
    sha = resolve_sha(ref, cwd=repo)
    data = git_show(sha, Path("params.yaml"), cwd=repo)
    if data is None:
        raise BaselineError(f"base ref {ref} ({sha[:12]}) has no params.yaml: is it a commit of this project?")
    loaded = yaml.safe_load(data)
    raw = loaded if isinstance(loaded, dict) else {}
    params, compare, notes = policy_from_raw(raw, f"{ref}:params.yaml")
    return BasePolicy(ref, sha, raw, params, compare, notes)


def proposed_policy_changes(base: BasePolicy, candidate: Params) -> list[Change]:
    """What the pull request changes in ``compare:`` (shown as a proposal that applies after merge)."""
    before = base.compare.model_dump(mode="json")
    after = candidate.compare.model_dump(mode="json")
    changes = params_diff(before, after)  # an empty mapping is a leaf: skip "{} -> —" next to its keys
    return [Change(f"compare.{c.key}", c.baseline, c.candidate) for c in changes if {} not in (c.baseline, c.candidate)]


def _key(raw: dict[str, Any], params: Params | None, dotted: str) -> Any:
    if params is not None:
        value: Any = params
        for part in dotted.split("."):
            value = getattr(value, part)
        return value
    defaults: Any = Params().model_dump()
    value = raw
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
        defaults = defaults.get(part) if isinstance(defaults, dict) else None
    return defaults if value is None else value


COMPARABILITY_KEYS = ("task", "data.target", "data.source")


def incomparable_changes(base: BasePolicy, candidate: Params) -> list[Change]:
    """Changes of task, target or data source: the models answer different questions."""
    out = []
    for key in COMPARABILITY_KEYS:
        before, after = _key(base.raw, base.params, key), _key({}, candidate, key)
        if before != after:
            out.append(Change(key, before, after))
    return out
