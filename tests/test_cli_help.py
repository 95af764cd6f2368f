"""The analyst's command line: --version, help in the field's style, docs/cli.md up to date,
shell completion."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
from typing import Annotated

import pypff
import pytest
import typer
from typer.testing import CliRunner

import uidl_inspector
from conftest import REPO
from uidl_inspector.cli import app
from uidl_inspector.cli.app import PANEL_CHECKS, PANEL_PERFORMANCE, PANELS, App, Group
from uidl_inspector.cli.docs import command_reference

runner = CliRunner()
COMMANDS = tuple(typer.main.get_command(app).commands)  # every command, present and future
WIDTHS = (80, 120, 200)
PLACEHOLDERS = re.compile(
    r"<bool>|<int>|<str>|<list\[|<Path>|\[\[|\]\.\.\.\]\.\.\.|"
    r"<[a-z_]+\|"
)


def help_of(*args: str, width: int = 100) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def sections(text: str) -> list[str]:
    """The section headings of a help text, in order."""
    return [line[:-1] for line in text.splitlines() if re.fullmatch(r"[A-Z][a-z ]+:", line)]


def test_version_names_tool_python_and_backends():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"uidl-inspector {uidl_inspector.__version__}"
    assert lines[1].startswith(f"Python {platform.python_version()} (")
    assert f"libpff {pypff.get_version()}" in lines
    dfvfs = [line for line in lines if line.startswith("dfvfs ")]
    installed = importlib.util.find_spec("dfvfs") is not None
    assert len(dfvfs) == 1 and (dfvfs[0] != "dfvfs not installed") == installed


def test_version_without_dfvfs_says_so(monkeypatch):
    from uidl_inspector import versions

    real = importlib.util.find_spec
    monkeypatch.setattr(
        versions.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "dfvfs" else real(name, *a),
    )
    versions.backend_versions.cache_clear()
    try:
        assert "dfvfs not installed" in versions.version_text()
        assert versions.tool_info()["backends"]["dfvfs"] is None
    finally:
        versions.backend_versions.cache_clear()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_help_has_no_type_placeholders_and_fits(command, width):
    text = help_of(*([command] if command else []), width=width)
    assert not PLACEHOLDERS.search(text), PLACEHOLDERS.search(text)
    examples = text.index("\nExamples:\n")
    for line in text[:examples].splitlines():  # examples are shown as written
        assert len(line.rstrip()) <= width, line
    assert sections(text)[-1] == "Examples"  # the examples end the help
    assert text.rstrip().splitlines()[-1].startswith("  ")


@pytest.mark.parametrize(
    "command,usage",
    [
        ("scan", "uidl-inspector scan [OPTIONS] [PATH]..."),
        ("audit", "uidl-inspector audit [OPTIONS] [PATH]..."),
        ("blob", "uidl-inspector blob [OPTIONS] FILE|-..."),
        ("synth", "uidl-inspector synth [OPTIONS] OUTDIR"),
    ],
)
def test_usage_lines(command, usage):
    assert help_of(command).splitlines()[0] == f"Usage: {usage}"
    bad = runner.invoke(app, [command, "--no-such-option"])
    assert bad.exit_code == 2 and f"Usage: {usage}" in bad.stderr


def test_options_grouped_in_order_with_defaults():
    scan = help_of("scan", width=200)
    assert sections(scan) == [
        "Arguments",
        "Input",
        "Output",
        "Checks",
        "Performance",
        "Options",
        "Examples",
    ]
    checks = scan[scan.index("\nChecks:\n") : scan.index("\nPerformance:\n")]
    assert "--verify" in checks and "--strict" in checks
    assert "--no-hash-images" in scan[scan.index("\nPerformance:\n") : scan.index("\nOptions:\n")]
    inputs = scan[scan.index("\nInput:\n") : scan.index("\nOutput:\n")]
    for option in ("--no-recover", "--partitions", "--vss", "--deleted", "--credential"):
        assert option in inputs, option
    synth = help_of("synth", width=200)
    assert re.search(r"--variant \[unicode\|ansi\] +PST variant\. \[default: unicode\]", synth)
    assert re.search(r"--messages MESSAGES +.*\[1<=x<=1000000\] \[default: 1000\]", synth)
    assert "[required]" in synth  # --scenario
    for command in COMMANDS:  # the run-log options are on every command
        text = help_of(command, width=200)
        output = text[text.index("\nOutput:\n") :]
        for option in ("--log-file FILE", "-v, --verbose", "-q, --quiet"):
            assert f"  {option}  " in output, (command, option)


def test_docstring_paragraphs_are_reflowed_not_broken_mid_sentence():
    text = help_of("scan", width=200)  # help lines stop at 120 columns, for reading
    assert "extension. A bad input gets one line on stderr and the others are still" in text
    narrow = help_of("scan", width=80)
    prose = narrow[: narrow.index("\nArguments:")].splitlines()
    assert all(len(line) <= 80 for line in prose)
    assert " ".join(line.strip() for line in prose[4:]) == (
        "The input type comes from the content, not the extension. A bad input gets one "
        "line on stderr and the others are still reported; the exit code is then 1."
    )


def test_a_new_option_only_needs_its_panel():
    """What another command module does: a panel name, nothing else, and a docstring
    paragraph kept verbatim because it is a list."""
    demo = App(name="demo", cls=Group, add_completion=False)

    @demo.command(epilog="Examples:\n  demo go x")
    def go(
        path: Annotated[str, typer.Argument(metavar="PATH", help="A path.")],
        jobs: Annotated[
            int,
            typer.Option(
                "--jobs", "-j", metavar="N", rich_help_panel=PANEL_PERFORMANCE, help="Workers."
            ),
        ] = 2,
        deleted: Annotated[
            bool,
            typer.Option(
                "--deleted/--no-deleted",
                rich_help_panel=PANEL_CHECKS,
                help="Look at deleted files.",
            ),
        ] = True,
        odd: Annotated[
            bool, typer.Option("--odd", rich_help_panel="Carving", help="Odd one.")
        ] = False,
    ) -> None:
        """Go.

        A paragraph whose source line breaks before an option name
        --jobs is still prose.

        Steps:
        - one
        - two
        """

    @demo.command()
    def other() -> None:
        """Another command, so that the app is a group."""

    result = runner.invoke(demo, ["go", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert sections(text) == [
        "Arguments",
        "Output",
        "Checks",
        "Performance",
        "Carving",
        "Options",
        "Examples",
    ]
    assert re.search(r"-j, --jobs N +Workers\. \[default: 2\]", text)
    assert re.search(
        r"--deleted / --no-deleted +Look at deleted files\. \[default: --deleted\]", text
    )
    assert "  Steps:\n  - one\n  - two\n" in text
    assert "  A paragraph whose source line breaks before an option name --jobs is still" in text
    assert text.splitlines()[0] == "Usage: demo go [OPTIONS] PATH"


def test_docs_cli_md_is_generated_from_the_cli():
    expected = command_reference()
    checked_in = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert checked_in == expected, (
        "docs/cli.md is out of date: run python -m uidl_inspector.cli.docs docs/cli.md"
    )
    for command in COMMANDS:
        assert f"\n## uidl-inspector {command}\n" in expected
    for panel in PANELS[:3]:
        assert f"\n{panel}:\n" in expected


def test_docs_do_not_depend_on_the_terminal():
    env = {**os.environ, "COLUMNS": "43", "FORCE_COLOR": "1", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "uidl_inspector.cli.docs"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == command_reference()
    assert "\x1b" not in done.stdout


def test_shell_completion_is_served():
    env = {
        "COMP_WORDS": "uidl-inspector scan --lo",
        "COMP_CWORD": "2",
        "_UIDL_INSPECTOR_COMPLETE": "complete_bash",
    }
    result = runner.invoke(app, [], env=env, prog_name="uidl-inspector")
    assert result.exit_code == 0
    assert "--log-file" in result.stdout.split()
    assert "--install-completion" in help_of(width=100)
