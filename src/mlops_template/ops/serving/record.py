"""The release record (``.cache/release/release.json``): the run-specific half of the model card for one release.

Each release step adds what it learned: ``register`` the MLflow version and run, ``bento`` the bento tag, the push
the image digest, ``promote`` the previous champion. The same facts are set as tags on the MLflow model version.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mlops_template.core import paths


class ReleaseRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
        if not path.is_file():
            return cls()
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def save(self, path: Path = paths.RELEASE_RECORD) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def merge(cls, path: Path = paths.RELEASE_RECORD, **values: object) -> ReleaseRecord:
        """Merge ``values`` into the record on disk and save it."""
        merged = cls.model_validate(cls.load(path).model_dump() | values)
        merged.save(path)
        return merged
