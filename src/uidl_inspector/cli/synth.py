"""``uidl-inspector synth``: write a synthetic store with a known POP3 history and its truth."""

from __future__ import annotations

import logging
import re
from contextlib import nullcontext
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from uidl_inspector.cli.app import PANEL_INPUT, PANEL_OUTPUT, app, examples
from uidl_inspector.cli.common import guarded, usage_error
from uidl_inspector.cli.runlog import quiet
from uidl_inspector.synth.scenarios import SCENARIO_SETS, SCENARIOS

__all__ = ["synth", "parse_clock_offset"]

# mypy cannot list the members of an Enum built from a dict comprehension: a typer choice.
ScenarioName = Enum(  # type: ignore[misc]
    "ScenarioName", {name: name for name in (*SCENARIOS, *SCENARIO_SETS)}, type=str
)


class Variant(str, Enum):
    unicode = "unicode"
    ansi = "ansi"


class Encoding(str, Enum):
    none = "none"
    permute = "permute"
    cyclic = "cyclic"


log = logging.getLogger(__name__)
_OFFSET = re.compile(r"^([+-]?)(\d{1,2})(?::?(\d{2}))?$")
_PROGRESS_FROM = 2000  # messages: below this the write takes well under a second


def parse_clock_offset(text: str) -> int:
    """``+HH:MM``, ``-HH:MM``, ``+HH`` or ``Z`` as minutes east of UTC (ValueError if not)."""
    if text.strip().upper() in ("Z", "UTC"):
        return 0
    match = _OFFSET.match(text.strip())
    if not match:
        raise ValueError(f"--clock-offset {text!r} is not an offset like +02:00 or -05:30")
    sign, hours, minutes = match.groups()
    value = int(hours) * 60 + int(minutes or 0)
    if int(minutes or 0) >= 60 or value > 14 * 60:
        raise ValueError(f"--clock-offset {text!r} is outside -14:00..+14:00")
    return -value if sign == "-" else value


@app.command(
    epilog=examples(
        "uidl-inspector synth out/ --scenario duplicates",
        "uidl-inspector synth out/ --scenario large --messages 100000 --variant ansi",
        "uidl-inspector synth out/ --scenario multi-account --clock-offset +02:00 --msg",
        "uidl-inspector synth out/ --scenario copies",
    )
)
@guarded
def synth(
    outdir: Path = typer.Argument(
        ..., metavar="OUTDIR", help="Directory to write into (created if absent)."
    ),
    scenario: ScenarioName = typer.Option(
        ..., "--scenario", rich_help_panel=PANEL_INPUT, help="Which story to write."
    ),
    messages: int = typer.Option(
        1000,
        min=1,
        max=1_000_000,
        rich_help_panel=PANEL_INPUT,
        help="Inbox messages (scenario 'large' only).",
    ),
    clock_offset: str = typer.Option(
        "+00:00",
        "--clock-offset",
        metavar="+HH:MM",
        rich_help_panel=PANEL_INPUT,
        help="Shift the BLOB's tags by +HH:MM, as a writer "
        "on a local-time clock would (Outlook writes UTC).",
    ),
    seed: int = typer.Option(
        0,
        metavar="N",
        rich_help_panel=PANEL_INPUT,
        help="Seed: the same seed writes the same bytes.",
    ),
    variant: Variant = typer.Option(
        Variant.unicode, rich_help_panel=PANEL_OUTPUT, help="PST variant."
    ),
    encoding: Encoding = typer.Option(
        Encoding.none, rich_help_panel=PANEL_OUTPUT, help="Block encoding (bCryptMethod)."
    ),
    msg: bool = typer.Option(
        False,
        "--msg",
        rich_help_panel=PANEL_OUTPUT,
        help="Also export each hidden Message Manager as an .msg file.",
    ),
    force: bool = typer.Option(
        False, "--force", rich_help_panel=PANEL_OUTPUT, help="Replace existing files."
    ),
) -> None:
    """Write <scenario>-<variant>-<encoding>.pst, its .truth.json and .uidl.txt listing.

    The sets two-clients and copies write several stores, <set>-<n>-<variant>-<encoding>.pst
    each with its truth and listing, and <set>-<variant>-<encoding>.set.truth.json."""
    from uidl_inspector.synth.scenarios import scenario as make_scenario
    from uidl_inspector.synth.truth import write_evidence, write_set

    try:
        offset = parse_clock_offset(clock_offset)
        if scenario.value in SCENARIO_SETS:
            members, set_file = write_set(
                outdir,
                scenario.value,
                seed=seed,
                clock_offset=offset,
                variant=variant.value,
                encoding=encoding.value,
                force=force,
            )
            for member in members:
                for path in (member.store, member.truth_file, *member.listings.values()):
                    typer.echo(path)
            typer.echo(set_file)
            return
        story = make_scenario(scenario.value, seed=seed, clock_offset=offset, messages=messages)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    err = Console(stderr=True)
    show = len(story.messages) >= _PROGRESS_FROM and err.is_terminal and not quiet()
    with err.status("writing") if show else nullcontext() as status:
        written = write_evidence(
            outdir,
            story,
            variant=variant.value,
            encoding=encoding.value,
            msg=msg,
            force=force,
            step=None if status is None else status.update,
        )
    for path in (written.store, written.truth_file, *written.listings.values(), *written.msgs):
        log.info("synth: wrote %s", path)
        typer.echo(path)
