"""The HTML audit report: self-contained, escaped, and rendered by headless Chromium."""

from __future__ import annotations

import hashlib
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit_fakes import history, mail, mailbox, store, utc
from conftest import REPO, need_peer
from uidl_inspector.audit import run_audit, take_inventory
from uidl_inspector.audit.server_listing import parse_server_listing
from uidl_inspector.cli import app
from uidl_inspector.report.html_report import MAX_BARS, downloads_per_period, to_html
from uidl_inspector.report.model import Report, Source
from uidl_inspector.synth.scenarios import scenario
from uidl_inspector.synth.truth import write_evidence

ARTIFACTS = REPO / "tests" / "artifacts"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def hostile_report():
    msgs, tags = mailbox(utc(2025, 3, 3, 8), 6, 60)
    msgs.append(mail(0x9004, "<m1@example.net>", utc(2025, 3, 9, 8), subject=HOSTILE))
    msgs[1].props[0x0037] = HOSTILE
    tags[2] = (tags[2][0], tags[2][1], HOSTILE)
    rec = history(tags, source="s.pst", account=f"{HOSTILE}@x")
    report = Report(
        sources=[Source(f"dir/{HOSTILE}.pst", "pst", 1, "ab" * 32, "cd" * 16)], histories=[rec]
    )
    report.extra["audit"] = run_audit(
        [rec],
        [take_inventory(store("s.pst", msgs), "s.pst")],
        [parse_server_listing(f"1 {HOSTILE[:20]}\n", "l")],
    )
    report.run.finish()
    return report


class Tags(HTMLParser):
    """Every element and attribute name of a document, as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes = set(), set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def test_html_is_self_contained_and_escaped():
    html = to_html(hostile_report())
    parsed = Tags()
    parsed.feed(html)
    assert not parsed.tags & {
        "script",
        "img",
        "iframe",
        "object",
        "embed",
        "link",
        "base",
        "form",
        "audio",
        "video",
        "source",
    }
    assert not parsed.attributes & {
        "src",
        "href",
        "action",
        "formaction",
        "background",
        "srcset",
        "poster",
        "onerror",
        "onload",
    }
    assert not re.search(r"url\(|@import", html, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src &#x27;none&#x27;" in html


def test_chart_buckets_stay_bounded():
    from datetime import datetime, timedelta

    tags = [("+", datetime(2020, 1, 1) + timedelta(days=3 * n), f"u{n}") for n in range(600)]
    report = Report(histories=[history(tags)])
    unit, bars = downloads_per_period(report)
    assert unit == "month" and len(bars) <= MAX_BARS
    assert sum(g for _, g, _, _ in bars) == 600


def chromium(args, tmp_path):
    binary = need_peer("chromium")
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr):
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.peers
def test_rendered_in_chromium(tmp_path):
    ev = write_evidence(tmp_path / "ev", scenario("duplicates", seed=2, clock_offset=-240))
    page = tmp_path / "audit.html"
    listing = next(iter(ev.listings.values()))
    result = CliRunner().invoke(
        app, ["audit", str(ev.store), "--server-uidl", str(listing), "-f", "html", "-o", str(page)]
    )
    assert result.exit_code == 0, result.stderr
    url = page.resolve().as_uri()
    dom = chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    html = dom.stdout
    truth = ev.document["expected"]
    assert "content=\"default-src 'none';" in html  # the policy as the browser read it
    assert '<svg id="downloads-chart"' in html and 'class="bar-get"' in html
    assert 'class="bar-dup"' in html
    groups = len(truth["duplicates"])
    assert re.search(rf'id="figure-duplicate-groups"><b>{groups}</b>', html)
    assert re.search(r'id="figure-clock"><b>-04:00</b>', html)
    assert "history_reset" in html
    assert html.count("<tr>") > groups
    assert hashlib.sha256(ev.store.read_bytes()).hexdigest() in html
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "audit-report.png"
    shot.unlink(missing_ok=True)
    picture = chromium([f"--screenshot={shot}", "--window-size=1280,2000", url], tmp_path)
    assert picture.returncode == 0, picture.stderr[-2000:]
    assert console_messages(picture.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.peers
def test_hostile_values_stay_text_in_chromium(tmp_path):
    page = tmp_path / "hostile.html"
    page.write_text(to_html(hostile_report()), encoding="utf-8")
    dom = chromium(["--dump-dom", page.resolve().as_uri()], tmp_path)
    assert dom.returncode == 0
    assert console_messages(dom.stderr) == []
    rendered = dom.stdout.lower()
    assert "<script" not in rendered and "<img" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered


def test_artifacts_are_ignored_by_git():
    assert "/tests/artifacts/" in Path(REPO / ".gitignore").read_text()
