"""The release record (``.cache/release/release.json``): the run-specific half of the model card for one release.

Each release step adds what it learned: ``register`` the MLflow version and run, ``bento`` the bento tag, the push
the image digest, ``promote`` the previous champion. The same facts are set as tags on the MLflow model version.

A hand-off (:mod:`mlops_template.core.handoff`): the deploy job reads what the build job wrote, and a rollback reads
a record an older version may have written, so every field has a default; a corrupt record is an error naming the
file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, ValidationError

from mlops_template.core import paths
from mlops_template.core.handoff import HandOff, HandOffError, describe


class ReleaseRecord(HandOff):
    name: str | None = Field(None, description="registered model name")
    version: str | None = Field(None, description="registered model version (None: no registry configured)")
    run_id: str | None = None
    model_uri: str | None = None
    tracking_uri: str | None = None
    git_sha: str | None = Field(None, description="commit released")
    model_md5: str | None = None
    data_md5: str | None = None
    dvc_outs: dict[str, str] = Field(default_factory=dict, description="md5 of each output pinned by dvc.lock")
    prediction_equivalent: dict[str, str] = Field(
        default_factory=dict,
        description="outputs released with other bytes than dvc.lock pins (path -> their md5), accepted because "
        "the pinned predictions on the test split matched (a pickle that is not byte-stable)",
    )
    outputs: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="every pinned output: pinned and actual md5, verdict (identical | equivalent), source "
        "(pulled | rebuilt)",
    )
    model_verdict: str | None = Field(None, description="identical | equivalent (predictions within the tolerance)")
    materialized: str | None = Field(None, description="pulled | rebuilt | pulled, then rebuilt")
    equivalence: str | None = Field(None, description="why the equivalent outputs were accepted")
    bento_tag: str | None = None
    image: str | None = Field(None, description="image reference by digest: REPO@sha256:...")
    image_digest: str | None = None
    previous_champion: str | None = Field(None, description="the version `champion` pointed at before")
    deploy_commit: str | None = Field(None, description="the desired-state commit on the deploy branch (GitOps)")

    @classmethod
    def load(cls, path: Path = paths.RELEASE_RECORD) -> ReleaseRecord:
        """The record at ``path``; an empty one when there is none yet (HandOffError when it is corrupt)."""
        return cls.read_if_exists(path) or cls()

    def save(self, path: Path = paths.RELEASE_RECORD) -> None:
        self.write(path)

    @classmethod
    def merge(cls, path: Path = paths.RELEASE_RECORD, **values: object) -> ReleaseRecord:
        """Set the fields in ``values`` on the record on disk and save it (a TypeError names an unknown field,
        a HandOffError an ill-typed value)."""
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise TypeError(f"release record: no field {', '.join(unknown)} (fields: {', '.join(cls.model_fields)})")
        try:
            merged = cls.model_validate(cls.load(path).model_dump() | values)
        except ValidationError as err:
            raise HandOffError(describe(path, err)) from None
        merged.save(path)
        return merged


class RollbackRecord(HandOff):
    """``rollback.json``: what ``make rollback`` moved ``champion`` back to (the image and bento recorded as MLflow
    tags on that version), read back as data by ``deploy`` / ``gitops-publish --rollback-record``."""

    WRITER: ClassVar[str] = "`make rollback`"

    version: str
    image: str = ""
    bento: str = ""
