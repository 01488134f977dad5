"""``reports/pr/comparison.json``: what ``make pr-report`` found, for ``make gate`` and the retraining's decide step.

:class:`ComparisonRecord` is the file's only shape: ``pr_report`` writes it (a comparison, a candidate scored on
its own, or a failed pipeline) and the readers get it back typed. The format is the flat one of earlier versions:
the comparison's own fields next to the refs, so a file written by an older ``pr-report`` still reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from mlops_template.core.handoff import HandOff
from mlops_template.experiment.compare import Comparison, GateResult, MetricComparison, Verdict

COMPARISON_FILE = "comparison.json"
PIPELINE_FAILED = "pipeline failed"


class ComparisonRecord(HandOff):
    """``comparison.json``: the refs compared, the verdict, the gate and (unless the pipeline failed) the
    comparison itself (:class:`~mlops_template.experiment.compare.Comparison`, field for field)."""

    WRITER: ClassVar[str] = "`make pr-report`"

    base_ref: str
    candidate_sha: str
    verdict: Verdict | Literal["pipeline failed"]
    gate: GateResult
    base_sha: str | None = None
    baseline_source: str | None = Field(None, description="how the baseline was obtained (absent: pipeline failed)")
    # the comparison (absent when the candidate's pipeline failed)
    paired: bool | None = None
    method: str | None = None
    rows: int | None = None
    primary_metric: str | None = None
    confidence: float | None = None
    resamples: int | None = None
    valid_resamples: int | None = None
    metrics: list[MetricComparison] = Field(default_factory=list)
    candidate_metrics: dict[str, float] = Field(default_factory=dict)
    minimum_detectable: float | None = None

    @classmethod
    def of(
        cls, comparison: Comparison, *, base_ref: str, base_sha: str, candidate_sha: str, baseline_source: str
    ) -> ComparisonRecord:
        return cls.model_validate(
            {
                "base_ref": base_ref,
                "base_sha": base_sha,
                "candidate_sha": candidate_sha,
                "baseline_source": baseline_source,
                **comparison.to_dict(),
            }
        )

    @classmethod
    def pipeline_failed(cls, base_ref: str, candidate_sha: str) -> ComparisonRecord:
        reason = "the candidate's pipeline failed (see the report)"
        return cls(
            base_ref=base_ref, candidate_sha=candidate_sha, verdict=PIPELINE_FAILED, gate=GateResult(False, [reason])
        )

    @property
    def passed(self) -> bool:
        return self.gate.passed

    @property
    def gate_lines(self) -> list[str]:
        """Why the gate failed, or what it checked when it passed."""
        return list(self.gate.checks if self.passed else self.gate.reasons)

    @classmethod
    def in_folder(cls, out_dir: Path) -> ComparisonRecord:
        return cls.read(out_dir / COMPARISON_FILE)

    def write_to(self, out_dir: Path) -> Path:
        """The one writer of ``out_dir/comparison.json``."""
        return self.write(out_dir / COMPARISON_FILE)
