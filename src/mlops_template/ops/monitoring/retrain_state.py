"""``reports/retrain/state.json``: what ``make retrain-data`` found, for ``make retrain-decide``.

A module of its own: ``retrain.py`` imports only the standard library at the top (its ``publish`` step runs on a
bare runner Python), and imports this where a step reads or writes the state.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from mlops_template.core.handoff import HandOff


class RetrainState(HandOff):
    """Whether the refreshed data is a new DVC data version, and which stages are out of date with dvc.lock."""

    WRITER: ClassVar[str] = "`make retrain-data`"

    data_changed: bool
    data_md5_before: str | None = Field(None, description="the extract output's md5 in the committed dvc.lock")
    data_md5_after: str | None = Field(None, description="... after re-extracting (None: the stage wrote none)")
    stale_stages: list[str] = Field(default_factory=list)
    changed: bool = Field(description="new data or stale stages: the pipeline's result may differ from main's")
