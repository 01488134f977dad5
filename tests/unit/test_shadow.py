"""The shadow comparison (ops/monitoring/shadow.py): pairing, agreement, the paired interval and the verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.config import Params
from mlops_template.experiment.compare import compare_predictions
from mlops_template.ops.monitoring.shadow import (
    ShadowComparison,
    pair_lines,
    predictions,
    shadow_block,
    verdict_from,
)

PARAMS = Params()


def line(rid: str, ident: Any, score: float, role: str | None = "champion", version: str = "") -> dict[str, Any]:
    version = version or ("m:2" if role == "challenger" else "m:1")
    entry = {"ts": "2026-12-01T00:00:00+00:00", "request_id": rid, "id": ident, "endpoint": "predict_batch"}
    entry |= {"model_version": version, "label": int(score >= 0.5), "score": score}
    if role is not None:
        entry["role"] = role
    if role != "challenger":
        entry["inputs"] = {"x": 1.0}
    return entry


def traffic(n: int, champion_noise: float, challenger_noise: float, seed: int = 0) -> tuple[list[dict], pd.DataFrame]:
    """n requests scored by both models (noisier = worse) and the true labels of every record."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    lines = []
    for i in range(n):
        for role, noise, version in (("champion", champion_noise, "m:1"), ("challenger", challenger_noise, "m:2")):
            z = (2 * y[i] - 1) * 1.5 + rng.normal(0, noise)
            lines.append(line(f"r{i // 10}", i, float(1 / (1 + np.exp(-z))), role, version))
    return lines, pd.DataFrame({"id": np.arange(n), "target": y})


def test_pairs_agreement_and_counts_without_crashing_on_bad_lines() -> None:
    lines = [
        line("a", 1, 0.9, role=None),  # an older line without role is a champion line
        line("a", 1, 0.7, "challenger"),
        line("a", 2, 0.2),
        line("a", 2, 0.6, "challenger"),  # disagrees
        line("b", "b-0", 0.4),
        line("b", "b-0", 0.1, "challenger"),
        line("c", 3, 0.8),  # no challenger line (the shadow queue was full)
        line("d", 4, 0.3, "challenger"),  # no champion line
        line("a", 1, 0.5, "challenger"),  # duplicate: the first is kept
        "not an object",
        {"request_id": "e", "score": 0.5},  # no id
        line("f", 5, 0.5, "canary"),  # unknown role
    ]
    block = shadow_block(lines, None, PARAMS)
    assert block is not None
    assert (block.pairs, block.champion_lines, block.challenger_lines) == (3, 4, 4)
    assert (block.unpaired_champion, block.unpaired_challenger, block.duplicates, block.unreadable) == (1, 1, 1, 3)
    assert block.agreement == pytest.approx(2 / 3, abs=1e-6)
    diffs = np.array([0.7 - 0.9, 0.6 - 0.2, 0.1 - 0.4])
    assert block.score_diff_mean == pytest.approx(diffs.mean())
    assert block.score_diff_p95_abs == pytest.approx(np.quantile(np.abs(diffs), 0.95))
    assert (block.champion_version, block.challenger_version) == ("m:1", "m:2")
    assert block.verdict == "insufficient labels" and not block.promote and "0 labelled pairs" in block.message


def test_no_challenger_lines_give_no_block() -> None:
    assert shadow_block([line("a", 1, 0.9), line("a", 2, 0.1)], None, PARAMS) is None


def test_a_worse_challenger_is_worse_with_the_pr_comparisons_interval() -> None:
    lines, labels = traffic(600, champion_noise=0.5, challenger_noise=3.0)
    block = shadow_block(lines, labels, PARAMS)
    assert block is not None and block.labelled == 600
    assert (block.verdict, block.promote, block.metric) == ("worse", False, "roc_auc")
    assert block.ci_high is not None and block.margin is not None and block.ci_high < -block.margin
    assert "roc_auc" in block.message and "margin 0.005" in block.message and "600 labelled pairs" in block.message
    # the very statistics of a pull request: the same function, the same interval
    pairs = pair_lines(lines)
    keys = pairs.paired()
    y = labels["target"].tolist()
    classes = np.array([0, 1])
    same = compare_predictions(
        "binary",
        predictions("binary", y, [pairs.champion[k] for k in keys], classes),
        predictions("binary", y, [pairs.challenger[k] for k in keys], classes),
        PARAMS.compare,
        paired=True,
        seed=PARAMS.seed,
        primary_only=True,
    ).metric("roc_auc")
    assert (block.delta, block.ci_low, block.ci_high, block.comparison_verdict) == (
        same.delta,
        same.ci_low,
        same.ci_high,
        same.verdict,
    )


def test_a_better_challenger_is_better_and_the_same_model_is_not_worse() -> None:
    lines, labels = traffic(600, champion_noise=3.0, challenger_noise=0.5)
    block = shadow_block(lines, labels, PARAMS)
    assert block is not None and (block.verdict, block.promote) == ("better", True)
    assert block.ci_low is not None and block.ci_low > 0
    lines, labels = traffic(300, champion_noise=1.0, challenger_noise=1.0)
    twins = [e for e in lines if e["role"] == "champion"]
    twins += [e | {"role": "challenger", "model_version": "m:2"} for e in twins]
    block = shadow_block(twins, labels, PARAMS)
    assert block is not None and (block.verdict, block.promote, block.delta, block.agreement) == (
        "not worse",
        True,
        0,
        1,
    )


def test_labels_join_by_id_across_types_and_few_labels_give_no_verdict() -> None:
    lines, labels = traffic(300, 0.5, 0.5)
    as_text = labels.assign(id=labels["id"].astype(str))  # ids read from a CSV of strings
    block = shadow_block(pd.DataFrame(lines), as_text, PARAMS)  # a frame of log lines works too
    assert block is not None and block.labelled == 300
    block = shadow_block(lines, labels.head(50), PARAMS)
    assert block is not None and (block.verdict, block.labelled, block.promote) == ("insufficient labels", 50, False)
    assert "fewer than 100" in block.message
    one_class = labels[labels["target"] == 1]
    block = shadow_block(lines, one_class, PARAMS, min_labels=10)
    assert block is not None and block.verdict == "insufficient labels" and "one class only" in block.message


def test_latest_label_wins_and_duplicates_are_counted() -> None:
    lines, labels = traffic(200, 0.5, 0.5)
    wrong = labels.assign(target=1 - labels["target"], ts="2026-01-01")
    right = labels.assign(ts="2026-01-02")
    block = shadow_block(lines, pd.concat([right, wrong]), PARAMS)
    assert block is not None and block.label_duplicates == 200
    assert block.champion_metric is not None and block.champion_metric > 0.8  # the later (right) labels count


@pytest.mark.parametrize(
    ("metric_verdict", "worst_gain", "expected"),
    [
        ("regressed", -0.05, "worse"),
        ("improved", 0.01, "better"),
        ("no detectable change", -0.004, "not worse"),
        ("changed, but within the margin", -0.004, "not worse"),
        ("changed, but within the margin", -0.006, "inconclusive"),
        ("not detectable at this data size", -0.02, "inconclusive"),
        ("not detectable at this data size", -0.001, "not worse"),
    ],
)
def test_verdict_words(metric_verdict: str, worst_gain: float, expected: str) -> None:
    assert verdict_from(metric_verdict, worst_gain, margin=0.005) == expected


def test_the_block_round_trips_and_rejects_unknown_keys() -> None:
    lines, labels = traffic(200, 0.5, 0.5)
    block = shadow_block(lines, labels, PARAMS)
    assert block is not None
    assert ShadowComparison.model_validate_json(block.model_dump_json()) == block
    with pytest.raises(ValueError, match="extra"):
        ShadowComparison.model_validate(block.model_dump() | {"surprise": 1})


def write_shadow_log(path: Path, n: int, champion_noise: float, challenger_noise: float) -> pd.DataFrame:
    """A prediction log of n records scored by both models (champion lines carry inputs); returns the labels."""
    from tests.unit.test_drift_monitor import FEATURES, population

    lines, labels = traffic(n, champion_noise, challenger_noise)
    inputs = population(n, seed=11)[FEATURES].astype(object).to_dict("records")
    for e in lines:
        if e["role"] == "champion":
            e["inputs"] = inputs[e["id"]]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    return labels


def test_the_monitor_reports_the_shadow_comparison(tmp_path: Path) -> None:
    from mlops_template.cli import main as mlops
    from mlops_template.core.profile import build_profile
    from tests.unit.test_drift_monitor import FEATURES, SPEC, population

    profile = build_profile(population(2000, seed=1), SPEC, FEATURES, bins=10)
    (tmp_path / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    (tmp_path / "params.yaml").write_text("monitor:\n  min_rows: 50\n", encoding="utf-8")
    labels = write_shadow_log(tmp_path / "log.jsonl", 300, champion_noise=0.5, challenger_noise=3.0)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    # the served model's card and test metrics: this test's own (not the project's models/), with a test metric
    # the champion clears, so the performance check (which labels also switch on) says ok
    from tests.unit.test_performance_monitor import CARD

    (tmp_path / "card.json").write_text(json.dumps({**CARD, "target": "target"}), encoding="utf-8")
    (tmp_path / "metrics.json").write_text(json.dumps({"roc_auc": 0.5}), encoding="utf-8")
    args = ["--log", str(tmp_path / "log.jsonl"), "--profile", str(tmp_path / "profile.json")]
    args += ["--out", str(tmp_path / "out"), "--params", str(tmp_path / "params.yaml")]
    args += ["--card", str(tmp_path / "card.json"), "--metrics", str(tmp_path / "metrics.json")]
    code = mlops(["monitor", *args, "--labels", str(tmp_path / "labels.csv")])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    # challenger lines (no inputs) are not unreadable drift lines: the drift verdict is unchanged
    assert (code, summary["status"], summary["window"]["malformed"], summary["window"]["rows"]) == (0, "ok", 0, 300)
    block = ShadowComparison.model_validate(summary["shadow"])
    assert (block.verdict, block.pairs, block.labelled, block.promote) == ("worse", 300, 300, False)
    report = (tmp_path / "out" / "drift.md").read_text(encoding="utf-8")
    assert "### Shadow challenger" in report and "**worse**" in report and "refuses" in report
    assert "### Shadow challenger" in (tmp_path / "out" / "issue.md").read_text(encoding="utf-8")
    # a missing labels file is the performance check's error (exit 1, status error), never a crash
    assert mlops(["monitor", *args, "--labels", str(tmp_path / "none.csv")]) == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "error" and summary["shadow"] is None
    # without labels: agreement and score differences only
    assert mlops(["monitor", *args]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["shadow"]["verdict"] == "insufficient labels" and summary["shadow"]["agreement"] is not None


def test_the_monitor_reads_the_log_and_the_labels_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One monitor run opens the prediction log once and the labels once: the drift window, the live performance
    and the shadow comparison take their rows from that read (the same verdicts as reading each on its own)."""
    import fsspec

    from mlops_template.cli import main as mlops
    from mlops_template.ops.monitoring.labels import read_labels
    from mlops_template.ops.monitoring.window import read_log_lines, read_window, window_of
    from tests.unit.test_performance_monitor import CARD

    log, labels_csv = tmp_path / "log.jsonl", tmp_path / "labels.csv"
    labels = write_shadow_log(log, 200, champion_noise=0.5, challenger_noise=3.0)
    labels.to_csv(labels_csv, index=False)
    with log.open("a", encoding="utf-8") as handle:
        handle.write('not json\n{"inputs": 3}\n')
    (tmp_path / "params.yaml").write_text("monitor:\n  min_rows: 50\n", encoding="utf-8")
    (tmp_path / "card.json").write_text(json.dumps({**CARD, "target": "target"}), encoding="utf-8")
    (tmp_path / "metrics.json").write_text(json.dumps({"roc_auc": 0.5}), encoding="utf-8")
    from mlops_template.core.profile import build_profile
    from tests.unit.test_drift_monitor import FEATURES, SPEC, population

    profile = build_profile(population(2000, seed=1), SPEC, FEATURES, bins=10)
    (tmp_path / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    opened: list[str] = []
    real_open_files = fsspec.open_files

    def counting_open_files(location: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(location))
        return real_open_files(location, *args, **kwargs)

    monkeypatch.setattr(fsspec, "open_files", counting_open_files)
    args = ["--log", str(log), "--labels", str(labels_csv), "--out", str(tmp_path / "out")]
    args += ["--profile", str(tmp_path / "profile.json"), "--params", str(tmp_path / "params.yaml")]
    args += ["--card", str(tmp_path / "card.json"), "--metrics", str(tmp_path / "metrics.json")]
    assert mlops(["monitor", *args]) == 0
    assert sorted(opened) == sorted([str(log), str(labels_csv)])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["performance"]["labelled_rows"] == 200 and summary["window"]["malformed"] == 2
    # the same rows as reading each on its own: the window, and the shadow block (2 unreadable lines)
    alone = read_window(str(log), 10_000, None)
    assert summary["window"]["rows"] == len(alone.frame) == 200
    lines = read_log_lines(str(log))
    entries = [value for _, parsed in lines.files for _, value, _ in parsed if isinstance(value, dict)]
    expected = shadow_block(entries, read_labels(str(labels_csv), "id", "target").frame, PARAMS, unreadable=1)
    assert expected is not None and summary["shadow"] == expected.model_dump(mode="json")
    assert len(window_of(lines, 10_000, None).frame) == 200  # and the window leaves the lines as they were read
    assert not any("_ts" in value for _, parsed in lines.files for _, value, _ in parsed if isinstance(value, dict))


def write_summary(path: Path, block: ShadowComparison | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shadow = None if block is None else block.model_dump(mode="json")
    path.write_text(json.dumps({"status": "ok", "shadow": shadow}), encoding="utf-8")
    return path


def test_promote_challenger_refuses_with_the_reason_before_touching_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_template.cli import main as mlops
    from mlops_template.ops.release.commands import REFUSED

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    lines, labels = traffic(600, champion_noise=0.5, challenger_noise=3.0)
    summary = write_summary(tmp_path / "summary.json", shadow_block(lines, labels, PARAMS))
    assert mlops(["release", "promote-challenger", "--summary", str(summary)]) == REFUSED
    err = capsys.readouterr().err
    assert "refused (worse)" in err and "roc_auc" in err and "% CI [" in err and "margin 0.005" in err
    assert "600 labelled pairs" in err and "aliases are unchanged" in err
    write_summary(summary, shadow_block(lines, labels.head(40), PARAMS))
    assert mlops(["release", "promote-challenger", "--summary", str(summary)]) == REFUSED
    assert "refused (insufficient labels)" in capsys.readouterr().err
    # a promotable verdict still needs the registry
    lines, labels = traffic(600, champion_noise=3.0, challenger_noise=0.5)
    write_summary(summary, shadow_block(lines, labels, PARAMS))
    assert mlops(["release", "promote-challenger", "--summary", str(summary)]) == 1
    assert "set MLFLOW_TRACKING_URI" in capsys.readouterr().err


def test_promote_challenger_input_errors_name_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_template.cli import main as mlops

    assert mlops(["release", "promote-challenger", "--summary", str(tmp_path / "none.json")]) == 1
    assert "run `make monitor LOG=... LABELS=...` first" in capsys.readouterr().err
    summary = write_summary(tmp_path / "summary.json", None)
    assert mlops(["release", "promote-challenger", "--summary", str(summary)]) == 1
    assert "no `shadow` block" in capsys.readouterr().err
    summary.write_text(json.dumps({"shadow": {"verdict": "fine", "promote": True, "message": ""}}), encoding="utf-8")
    assert mlops(["release", "promote-challenger", "--summary", str(summary)]) == 1
    assert "shadow.verdict:" in capsys.readouterr().err
    summary.write_text("{", encoding="utf-8")
    assert mlops(["release", "promote-challenger", "--summary", str(summary)]) == 1
    assert "cannot read the monitor summary" in capsys.readouterr().err
