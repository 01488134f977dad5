"""The one command line, `mlops` (pyproject.toml [project.scripts]): every command listed on one line, each owner's
arguments reachable through it, the GitHub commands runnable on a bare Python, and no second entry point."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_template.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
MLOPS = Path(sys.executable).with_name("mlops")  # the console script `uv sync` installed from [project.scripts]
# The commands the write-token jobs run on the runner's bare Python (Makefile MLOPS_BARE): standard library only.
BARE = [["github", "dispatch"], ["github", "issue"], ["pr-comment", "summary"], ["pr-comment", "post"], ["protect"]]
BARE += [["retrain", "publish"]]


def test_the_installed_script_lists_every_command_on_one_line() -> None:
    result = subprocess.run([str(MLOPS), "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name, (_, line) in COMMANDS.items():
        assert any(re.fullmatch(rf"\s+{re.escape(name)}\s+{re.escape(line)}", row) for row in lines), (
            f"`mlops --help` has no one-line entry for {name!r}:\n{result.stdout}"
        )


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_reaches_its_owner_arguments(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`mlops <command> --help` imports the owning module and shows its own options."""
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mlops {name} [-h]"), out


def test_an_unknown_command_is_refused_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["deploy"])  # a release sub-command, not a top-level one
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'deploy'" in err and "'release'" in err


def test_a_sub_command_error_exits_with_the_owners_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The owner's `run` decides the exit code: the gate's missing comparison is a one-line error, exit 1."""
    assert main(["gate", "--comparison", str(tmp_path / "none.json")]) == 1
    assert capsys.readouterr().err.startswith("ERROR: ")


def _bare(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -S -m mlops_template.cli ...``: no site-packages (no yaml, pydantic, pandas), like a bare runner."""
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-S", "-m", "mlops_template.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env=base | (env or {}),
        cwd=ROOT,
        timeout=60,
    )


def test_the_bare_python_has_no_third_party_packages() -> None:
    """What the next test relies on: under -S, the project's dependencies are not importable."""
    probe = subprocess.run([sys.executable, "-S", "-c", "import yaml"], capture_output=True, text=True, check=False)
    assert probe.returncode != 0 and "No module named 'yaml'" in probe.stderr
    assert _bare("check-params").returncode != 0  # a command that needs them fails there


@pytest.mark.parametrize("command", BARE, ids=" ".join)
def test_the_github_commands_run_on_a_bare_python(command: list[str]) -> None:
    result = _bare(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: mlops {' '.join(command)} [-h]"), result.stdout


def test_a_bare_command_runs_and_says_what_is_missing(tmp_path: Path) -> None:
    result = _bare("pr-comment", "summary", "--report", str(tmp_path / "report.md"))
    assert result.returncode == 2
    assert "GITHUB_STEP_SUMMARY is not set" in result.stderr
    result = _bare("github", "dispatch", "--workflow", "retrain.yml", "--input", "no-equals-sign")
    assert result.returncode == 2 and "KEY=VALUE expected, got 'no-equals-sign'" in result.stderr


def _entry_points(path: Path) -> list[str]:
    """What makes ``path`` a command line of its own: a ``__main__`` guard or an ArgumentParser it builds."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare) and any(
            isinstance(c, ast.Constant) and c.value == "__main__" for c in node.comparators
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno} `if __name__ == '__main__'`")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "ArgumentParser":
            found.append(f"{path.relative_to(SRC)}:{node.lineno} argparse.ArgumentParser(...)")
    return found


def test_the_cli_is_the_one_entry_point_besides_the_dvc_stages() -> None:
    package = SRC / "mlops_template"
    stages = package / "core" / "stages"
    others = [
        found
        for path in sorted(package.rglob("*.py"))
        if path != package / "cli.py" and stages not in path.parents and path.name != "__main__.py"
        for found in _entry_points(path)
    ]
    assert others == [], "a second command line: make it a command of mlops_template/cli.py (COMMANDS)"
    assert not list(package.rglob("__main__.py")), "a `python -m` package entry point: make it an mlops command"
    assert _entry_points(package / "cli.py")  # the scan sees the real one


def test_the_makefile_and_scripts_call_the_cli() -> None:
    """No recipe or script runs a project module directly: they call `mlops` (or the bare-Python form of it)."""
    texts = {
        p.relative_to(ROOT): p.read_text(encoding="utf-8") for p in [ROOT / "Makefile", *ROOT.glob("scripts/**/*.sh")]
    }
    direct = [
        f"{path}: {line.strip()}"
        for path, text in texts.items()
        for line in text.splitlines()
        if re.search(r"-m mlops_template\.(?!cli\b)", line)
    ]
    assert direct == []
    assert os.access(MLOPS, os.X_OK)
