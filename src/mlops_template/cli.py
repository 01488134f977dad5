"""The project's one command line: ``mlops <command>`` (``[project.scripts]`` in pyproject.toml). The Makefile's
targets call it; ``mlops --help`` lists the commands, ``mlops <command> --help`` their options.

Each command is defined by the module that owns it: an ``add_arguments(parser)`` function adds the command's
options (and its own sub-commands, e.g. ``mlops release deploy``) and sets ``run``, the function that carries it
out and returns the exit code. :data:`COMMANDS` names that module and says in one line what the command does.
Only the chosen command's module is imported: ``mlops pr-report --repro`` starts the pipeline before anything heavy
is loaded, and the GitHub commands (``github``, ``pr-comment``, ``protect``, ``retrain publish``) run on a bare
runner Python, standard library only, as ``PYTHONPATH=src python3 -m mlops_template.cli <command>`` (the
Makefile's ``MLOPS_BARE``). The DVC stages are the exception: each keeps its own small entry point
(``python -m mlops_template.core.stages.<stage>``, dvc.yaml), so a stage's dependencies are its own modules.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from mlops_template.core.config import Params

# Nothing but the standard library at import time (see the docstring): each command imports what it needs.

# name -> (where its arguments are added: "module:function", "" = this module; the one line `mlops --help` shows).
# Ordered by wing: the ML core, the PR experiment, operations (serving, release, monitoring, GitHub).
COMMANDS: dict[str, tuple[str, str]] = {
    "check-params": (":add_check_params", "validate params.yaml and the schema file"),
    "schema": (":add_schema", "draft the schema file from the data source (review it, then commit it)"),
    "init": (":add_init", "make a fresh fork your project: names, data settings, demo lineage reset"),
    "template-adopt": (":add_template_adopt", "write .copier-answers.yml ($TEMPLATE at tag $VERSION) in a fork"),
    "repro": (":add_repro", "dvc repro; on failure, put the last good dvc.lock and data back"),
    "pr-report": (":add_pr_report", "compare the workspace's model with the base ref's; write the PR report"),
    "cv-predict": (":add_cv_predict", "out-of-fold predictions of repeated k-fold CV on a data file"),
    "pin-map": (":add_pin_map", "map dvc.lock's committed pins to the md5s `make repro` produced here"),
    "gate": (":add_gate", "exit 1 when the last pr-report failed the gate (and say why)"),
    "lock-check": (
        "mlops_template.experiment.lockcheck:add_arguments",
        "fail when the committed dvc.lock is not what code, params and data produce",
    ),
    "dvc-remote": (
        "mlops_template.experiment.dvc_remote:add_arguments",
        "pushed: which outputs the committed dvc.lock pins are on the DVC remote",
    ),
    "bento": (
        "mlops_template.ops.serving.store:add_arguments",
        "import models/ into the BentoML model store (with lineage), build the bento",
    ),
    "serve-check": (
        "mlops_template.ops.serving.check:add_arguments",
        "load the built bento in-process: rows answered as in-process, bad input -> 4xx",
    ),
    "smoke": (
        "mlops_template.ops.serving.smoke:add_arguments",
        "smoke-test a running service (container, bentoml serve) vs the in-process model",
    ),
    "containerfile": (
        "mlops_template.ops.release.containerfile:add_arguments",
        "the bento's build context with its Dockerfile on another base image",
    ),
    "release": (
        "mlops_template.ops.release.commands:add_arguments",
        "release steps: materialize, register, promote, deploy, rollback, ... (--help)",
    ),
    "monitor": (
        "mlops_template.ops.monitoring.commands:add_arguments",
        "drift of served traffic (and live performance, with labels); writes the report",
    ),
    "retrain": (
        "mlops_template.ops.monitoring.retrain:add_arguments",
        "the retraining workflow's steps: refresh, decide, commit, publish",
    ),
    "github": (
        "mlops_template.ops.github:add_arguments",
        "GitHub upserts for the workflows: comment, issue, pull, dispatch",
    ),
    "pr-comment": (
        "mlops_template.ops.pr_comment:add_arguments",
        "the PR report out: summary (job summary), post (the one sticky PR comment)",
    ),
    "protect": (
        "mlops_template.ops.protect:add_arguments",
        "apply .github/rulesets/main.json to the repository (once, as an admin)",
    ),
}

SCHEMA_HEADER = """\
# THE data schema, used by the validate stage, the data tests and the service's input validation.
# Drafted by `make schema` from {source} ({rows} rows); review before committing:
#   - min/max: inferred ranges are padded; set the real physical/business limits
#   - allowed: a closed category, the complete list of valid values/labels (another value is bad input);
#     open: true, an open category (a new value is accepted, encoded as unknown and counted as drift)
#   - nullable: true only where a missing value is legitimate
#   - min_rows: the smallest dataset you would still train on
#   - role: feature (default, a model input) | date (year/month/weekday model inputs) | identifier | ignored
#     (identifier/ignored columns are validated here but never reach the model; a request may carry
#     them with any value). The comment above each column says why the draft chose its role.
"""


def cmd_check_params(_: argparse.Namespace) -> int:
    from mlops_template.core.config import load_params
    from mlops_template.core.data.schema import load_spec

    params = load_params()
    load_spec(params.data.schema_path)
    print(f"params.yaml and {params.data.schema_path} are valid")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from mlops_template.core.config import load_params
    from mlops_template.core.data.extract import extract

    params = load_params()
    d = params.data
    frame = extract(d.source, d.format, d.target, d.id_column)
    write_schema_draft(params, frame, Path(args.output or d.schema_path), args.margin)
    return 0


def write_schema_draft(params: Params, frame: pd.DataFrame, out: Path, margin: float = 0.5) -> None:
    """Draft the schema with a comment per decision; print the roles and the missing-label count."""
    from mlops_template.core.config import ConfigError
    from mlops_template.core.data.schema import draft_spec, dump_spec, task_failures

    d = params.data
    if d.target not in frame.columns:
        raise ConfigError(
            f"data.target: column {d.target!r} is not in {d.source} (columns: {', '.join(map(str, frame.columns))})"
        )
    drop = d.missing_labels == "drop"
    draft = draft_spec(
        frame,
        d.target,
        d.id_column,
        task=params.task,
        margin=margin,
        max_categories=params.features.max_categories,
        drop_missing_labels=drop,
    )
    dump_spec(draft.spec, out, SCHEMA_HEADER.format(source=d.source, rows=len(frame)), draft.notes)
    spec = draft.spec
    features = spec.feature_columns(d.target, d.id_column)
    print(f"wrote {out}: {len(spec.columns)} columns, {len(features)} model inputs; review it, then commit it")
    for name, col in spec.columns.items():
        if col.role != "feature" or name in (d.target, d.id_column):
            print(f"  {name}: {'; '.join(draft.notes.get(name, [col.role]))}")
    if d.id_column not in frame.columns:
        print(f"  note: data.id_column {d.id_column!r} is not a column of the data (no row identifier)")
    if draft.missing_labels:
        what = (
            "they are dropped before validation (data.missing_labels: drop); "
            f"{draft.rows - draft.missing_labels} rows remain"
            if drop
            else "validation will stop on them; set data.missing_labels: drop in params.yaml to drop them"
        )
        print(f"  missing labels: {draft.missing_labels} of {draft.rows} rows have no {d.target!r}: {what}")
    for failure in task_failures(frame, d.target, params.task):
        print(
            f"  WARNING: {failure.column!r}: {failure.check} (classes: {', '.join(failure.examples)}); "
            "`make repro` stops at validate until then"
        )


def cmd_init(args: argparse.Namespace) -> int:
    from mlops_template.core.config import load_params
    from mlops_template.core.data.extract import extract
    from mlops_template.core.errors import DataSourceError
    from mlops_template.ops.project_init import CHECKLIST, DEMO_TESTS, init_project

    settings: dict[str, object] = {}
    for key, value in (
        ("data.source", args.source),
        ("data.target", args.target),
        ("data.id_column", args.id_column),
        ("task", args.task),
        ("data.missing_labels", args.missing_labels),
    ):
        if value:
            settings[key] = value
    if args.source or args.target or args.task:
        settings["compare.floors"] = {}  # the demo's quality floors mean nothing for other data
    frame = None
    if args.source and not args.missing_labels:
        # Look at the data before writing params.yaml: rows without a label decide data.missing_labels.
        target = args.target or load_params().data.target
        try:
            frame = extract(args.source, "auto", target, args.id_column or load_params().data.id_column)
        except DataSourceError:
            frame = None  # e.g. a URL whose format is not in its name: the schema step below says what to set
        missing = int(frame[target].isna().sum()) if frame is not None and target in frame.columns else 0
        if missing and frame is not None:
            settings["data.missing_labels"] = "drop"
            print(
                f"{missing} of {len(frame)} rows have no label in {target!r}: setting data.missing_labels = drop "
                "(the extract stage drops them and logs the count). To stop on them instead, re-run with "
                "MISSING_LABELS=error."
            )
    name, removed = init_project(Path.cwd(), name=args.name, settings=settings, reset=not args.keep_lineage)
    print(f"project name: {name} (MLflow experiment, registered model, service and image names)")
    for key, value in settings.items():
        print(f"params.yaml: {key} = {value}")
    if "compare.floors" in settings:
        print(
            "  (compare.floors emptied: the demo's quality floors do not fit your data; once you know what good "
            "looks like, set e.g. {f1_macro: 0.8}: the PR gate and tests/model apply it)"
        )
    if removed:
        lineage = [r for r in removed if r not in DEMO_TESTS]
        print(f"removed the demo's lineage ({len(lineage)} files): " + ", ".join(lineage))
        for rel in sorted(set(removed) & set(DEMO_TESTS)):
            print(f"removed {rel}: the demo's domain-specific model test (write your own: see tests/README.md)")
    if args.source or args.schema:
        params = load_params()
        if frame is None or params.data.format != "auto":
            d = params.data
            frame = extract(d.source, d.format, d.target, d.id_column)
        write_schema_draft(params, frame, Path(params.data.schema_path))
    print("\nNext: review data/schema.yaml, then `make repro`, commit, push, and open a pull request.\n")
    print(CHECKLIST)
    return 0


def cmd_template_adopt(_: argparse.Namespace) -> int:
    """TEMPLATE and VERSION come from the environment (make template-adopt), never from make's command text."""
    from mlops_template.ops.project_init import adopt_template

    path = adopt_template(Path.cwd(), os.environ.get("TEMPLATE", ""), os.environ.get("VERSION", ""))
    print(f"wrote {path.name}: commit it; `make template-update` then takes the template's later versions")
    return 0


def cmd_repro(args: argparse.Namespace) -> int:
    """``dvc repro``; when it fails, put dvc.lock and data/raw back as they were (see ``repro.py``)."""
    from mlops_template.core.config import load_params
    from mlops_template.core.data.schema import load_spec
    from mlops_template.experiment.repro import GuardedRepro

    params = load_params()  # fail fast, before DVC, on a bad params.yaml
    load_spec(params.data.schema_path)
    run = GuardedRepro(args.dvc_args)
    code = run.wait()
    if code != 0 and run.saved:
        print(
            "\nrepro failed: restored the last good "
            + ", ".join(str(p) for p in run.saved)
            + "; models/ and metrics/ were not touched. Fix the problem above and re-run.",
            file=sys.stderr,
        )
    return code


def cmd_pr_report(args: argparse.Namespace) -> int:
    out = Path(args.out)
    run = None
    if args.repro:  # started before the comparison's heavy imports, which then overlap the pipeline
        from mlops_template.experiment.baseline import progress
        from mlops_template.experiment.repro import start_candidate_pipeline

        progress("running the candidate's pipeline (dvc repro) in the background")
        run = start_candidate_pipeline()
    from mlops_template.experiment.pr_report import build_report, pipeline_finished
    from mlops_template.ops.serving.predictor import serving_scorer  # the report times the service's own path

    ahead = None
    if run is not None:
        if not args.no_prefetch:  # optional: work on the baseline while the pipeline runs (prefetch.py)
            from mlops_template.experiment.prefetch import while_pipeline_runs

            ahead = while_pipeline_runs(run, args.base, serving_scorer)
        if not pipeline_finished(run, args.base, out):
            return 0  # a report was written; `gate` fails on it
    comparison = build_report(args.base, out, rebuild=not args.no_rebuild, ahead=ahead, scorer=serving_scorer)
    print(
        f"[pr-report] {comparison.verdict} on {comparison.primary_metric}; gate "
        f"{'passed' if comparison.gate.passed else 'FAILED'}; report: {out / 'report.md'}",
        file=sys.stderr,
    )
    return 0


def cmd_cv_predict(args: argparse.Namespace) -> int:
    """Out-of-fold predictions of this checkout's model config on DATA (the PR comparison calls it on the base)."""
    from mlops_template.core.config import load_params
    from mlops_template.core.data.schema import load_spec
    from mlops_template.experiment.crossval import write_oof

    params = load_params()
    spec = load_spec(params.data.schema_path)
    write_oof(params, spec, Path(args.data), args.folds, args.repeats, args.seed, Path(args.out))
    return 0


def cmd_pin_map(_: argparse.Namespace) -> int:
    """main-cache.yml, after ``make repro``: let PRs find main's model by its committed pins (see baseline.py)."""
    from mlops_template.experiment.baseline import pin_map_main

    return pin_map_main()


def cmd_gate(args: argparse.Namespace) -> int:
    from mlops_template.experiment.pr_report import gate_from_file

    passed, lines = gate_from_file(Path(args.comparison))
    if passed:
        print("gate passed:\n" + "\n".join(f"  - {line}" for line in lines))
        return 0
    print("gate FAILED:\n" + "\n".join(f"  - {line}" for line in lines), file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------- the commands' arguments


def _reporting(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``fn`` with the project commands' user errors (bad params, data source or baseline, a missing file) said in
    one line, exit 1."""

    def run(args: argparse.Namespace) -> int:
        from mlops_template.core.config import ConfigError
        from mlops_template.core.errors import DataSourceError
        from mlops_template.core.handoff import HandOffError
        from mlops_template.core.lineage import LockError
        from mlops_template.experiment.baseline import BaselineError

        try:
            return int(fn(args))
        except (ConfigError, DataSourceError, BaselineError, FileNotFoundError, HandOffError, LockError) as err:
            print(f"ERROR: {err}", file=sys.stderr)
            return 1

    return run


def add_check_params(p: argparse.ArgumentParser) -> None:
    p.set_defaults(run=_reporting(cmd_check_params))


def add_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", help="where to write (default: data.schema_path)")
    p.add_argument("--margin", type=float, default=0.5, help="pad numeric ranges by this fraction of the range")
    p.set_defaults(run=_reporting(cmd_schema))


def add_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="project name (default: from the git remote origin, else the folder name)")
    p.add_argument("--source", help="data.source: CSV/Parquet path or URL, or sklearn:<name>")
    p.add_argument("--target", help="data.target: the label column")
    p.add_argument("--id-column", help="data.id_column: the row identifier column")
    p.add_argument("--task", choices=["binary", "multiclass", "regression"], help="task type")
    p.add_argument(
        "--missing-labels",
        choices=["error", "drop"],
        help="data.missing_labels (default: drop when the data has rows without a label, else unchanged)",
    )
    p.add_argument("--schema", action="store_true", help="draft data/schema.yaml even if --source is not given")
    p.add_argument("--keep-lineage", action="store_true", help="keep dvc.lock, metrics, plots of the demo")
    p.set_defaults(run=_reporting(cmd_init))


def add_template_adopt(p: argparse.ArgumentParser) -> None:
    p.set_defaults(run=_reporting(cmd_template_adopt))


def add_repro(p: argparse.ArgumentParser) -> None:
    p.add_argument("dvc_args", nargs=argparse.REMAINDER, help="passed on to dvc repro")
    p.set_defaults(run=_reporting(cmd_repro))


def add_pr_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="main", help="git ref of the baseline (main, origin/main, a SHA)")
    p.add_argument("--out", default="reports/pr", help="folder for report.md, images and comparison.json")
    p.add_argument("--repro", action="store_true", help="run the candidate's pipeline first (report its failure)")
    p.add_argument("--no-rebuild", action="store_true", help="fail instead of rebuilding a baseline not in DVC")
    p.add_argument("--no-prefetch", action="store_true", help="do no work ahead while the pipeline runs (slower)")
    p.set_defaults(run=_reporting(cmd_pr_report))


def add_cv_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="parquet file with the feature, target and id columns")
    p.add_argument("--out", required=True, help=".npz file to write")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=42, help="seed of the fold assignment")
    p.set_defaults(run=_reporting(cmd_cv_predict))


def add_pin_map(p: argparse.ArgumentParser) -> None:
    p.set_defaults(run=_reporting(cmd_pin_map))


def add_gate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--comparison", default="reports/pr/comparison.json")
    p.set_defaults(run=_reporting(cmd_gate))


# ---------------------------------------------------------------------------------------- the entry point


def _configure(target: str, parser: argparse.ArgumentParser) -> None:
    """Let the command's owner (``module:function``; no module: this one) add its arguments and ``run``."""
    module, _, function = target.partition(":")
    owner = importlib.import_module(module) if module else sys.modules[__name__]
    getattr(owner, function)(parser)


def _listing() -> str:
    """Every command on one line (argparse's own list wraps the long names), for `mlops --help`."""
    width = max(map(len, COMMANDS)) + 2
    rows = [f"  {name:<{width}}{line}" for name, (_, line) in COMMANDS.items()]
    return "commands:\n" + "\n".join(rows) + "\n\n`mlops <command> --help` shows a command's options."


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Every command with its one line of help; only ``chosen``'s arguments (its module is imported)."""
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="The project's commands (the Makefile's targets call them). DVC stages run through dvc repro.",
        epilog=_listing(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>", help="one of the commands below")
    for name, (target, line) in COMMANDS.items():
        p = sub.add_parser(name, description=line)
        if name == chosen:
            _configure(target, p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``mlops <command> [options]``: the one entry point ([project.scripts]); returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    args = build_parser(chosen).parse_args(args_list)
    return int(args.run(args))


if __name__ == "__main__":  # python -m mlops_template.cli: the same entry point without the installed script
    sys.exit(main())
