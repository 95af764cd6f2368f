"""What a command loads when it starts: only its own module and what it needs.

The command group imports a command's module when that command is looked up (cli/app.py's
``Group``), and the package imports its decoder and its version lazily, so ``--version``
and ``scan --help`` start without loading every command, the synthetic-store writers,
Construct or pydantic. Checked by the modules a fresh interpreter holds afterwards, not by
time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from uidl_inspector.cli import app
from uidl_inspector.cli.app import command_modules
from uidl_inspector.cli.helpfmt import help_text

SRC = Path(__file__).resolve().parents[1] / "src"
LOADED = """
import contextlib, io, json, sys
sys.argv = ["uidl-inspector", *json.loads(sys.argv[1])]
from uidl_inspector.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def loaded(*args: str) -> set[str]:
    """The modules a fresh interpreter has imported after ``uidl-inspector ARGS``."""
    out = subprocess.run(
        [sys.executable, "-c", LOADED, json.dumps(args)],
        capture_output=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def commands_in(modules: set[str]) -> set[str]:
    return {name for name in command_modules() if f"uidl_inspector.cli.{name}" in modules}


def test_every_command_module_is_found_without_importing_it() -> None:
    assert command_modules() == ("audit", "blob", "carve", "hidden", "scan", "synth")


def test_version_loads_no_command_and_nothing_heavy() -> None:
    modules = loaded("--version")
    assert commands_in(modules) == set()
    assert not {"pydantic", "construct", "uidl_inspector.history", "rich"} & modules


def test_a_command_help_loads_that_command_only() -> None:
    modules = loaded("scan", "--help")
    assert commands_in(modules) == {"scan"}
    assert not {"pydantic", "uidl_inspector.synth.scenarios"} & modules


def test_a_run_loads_no_other_command_and_no_store_writer(tmp_path: Path) -> None:
    blob = tmp_path / "history.bin"
    blob.write_bytes(bytes.fromhex("0100000000000000"))  # version 1, no tag
    modules = loaded("blob", str(blob), "-q")
    assert commands_in(modules) == {"blob"}
    assert not {"uidl_inspector.synth.pst_writer", "uidl_inspector.audit"} & modules


def test_the_main_help_still_lists_every_command() -> None:
    import typer

    group = typer.main.get_command(app)
    ctx = typer.Context(group, info_name="uidl-inspector")
    text = help_text(group, ctx, ())
    listed = text.partition("Commands:")[2]
    assert all(f"  {name} " in listed for name in command_modules())


def test_a_mistyped_command_is_still_suggested() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["scna"])
    assert result.exit_code == 2 and "Did you mean 'scan'?" in result.output
