"""Where the bundled demo evidence is, in a source checkout and in an installed wheel.

The wheel force-includes the repository's ``samples/`` as ``uidl_inspector/samples``
(pyproject.toml); an editable install or a plain checkout finds it beside ``src/``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["samples_dir", "demo_path", "DEMO_STORE", "DEMO_BLOB"]

DEMO_STORE = "demo.pst"
DEMO_BLOB = "demo-history.blob"  # the decoder's demo, used while no demo store exists


def samples_dir() -> Path | None:
    """The bundled samples folder, or None when this installation has none."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "samples", package.parents[1] / "samples"):
        if (candidate / DEMO_STORE).is_file() or (candidate / DEMO_BLOB).is_file():
            return candidate
    return None


def demo_path() -> Path | None:
    """The demo input ``scan`` uses without a path: the demo store, else the demo BLOB."""
    folder = samples_dir()  # holds one of the two at least
    if folder is None:
        return None
    return folder / DEMO_STORE if (folder / DEMO_STORE).is_file() else folder / DEMO_BLOB
