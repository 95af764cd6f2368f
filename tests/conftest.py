"""Shared test fixtures: where the real samples are and whether peer readers must run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_SAMPLES = SHARED / "samples" / "real"
REAL_PSTS = sorted((REAL_SAMPLES / "pst").glob("*.pst"))
REAL_MSGS = sorted((REAL_SAMPLES / "msg").glob("*.msg"))
SAMPLES = REPO / "samples"

# In CI (.ci/run sets UIDL_REQUIRE_PEERS=1) a missing witness is a failure, not a skip.
REQUIRE_PEERS = os.environ.get("UIDL_REQUIRE_PEERS") == "1"


def need_peer(tool: str) -> str:
    """Return the path of an external witness program, or skip (fail in CI) without it."""
    found = shutil.which(tool)
    if found:
        return found
    message = f"peer reader {tool!r} is not installed (Debian package; .ci/run installs it)"
    if REQUIRE_PEERS:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_psts() -> list[Path]:
    if not REAL_PSTS:
        message = f"real samples not found under {REAL_SAMPLES}"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    return REAL_PSTS


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Every test disk image (tests/disk_images.py), built once per session."""
    import disk_images

    return disk_images.build(tmp_path_factory.mktemp("images"))
