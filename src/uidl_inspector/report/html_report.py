"""The audit as one self-contained HTML file an analyst can hand over.

No script, no network, no external asset: styles are inline, the chart is inline SVG, and
a Content-Security-Policy forbids every fetch. Every value from the evidence (UIDs,
subjects, folder names, paths) is attacker-controlled and goes through :func:`_e`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from html import escape
from typing import Any

from uidl_inspector.audit.classify import CLASSES
from uidl_inspector.report.lineage_views import lineage_rows_html
from uidl_inspector.report.model import Report
from uidl_inspector.report.table_report import terminal_safe
from uidl_inspector.versions import TOOL_NAME

__all__ = ["to_html", "downloads_per_period", "MAX_BARS", "MAX_GROUPS_SHOWN"]

MAX_BARS = 120
MAX_GROUPS_SHOWN = 200
MAX_EVIDENCE_CHARS = 20_000
MAX_SLACK_BYTES_SHOWN = 64
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#1b1f24}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}.num{text-align:right}
.figures{display:flex;flex-wrap:wrap;gap:1em}.figure{border:1px solid #d0d7de;border-radius:6px;
padding:.6em 1em;min-width:9em}.figure b{display:block;font-size:1.5em}
.demo{background:#fff8c5;border:1px solid #d4a72c;padding:.5em 1em}
.finding{border-left:4px solid #d4a72c;padding:.2em 1em;margin:1em 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
pre{background:#f6f8fa;padding:.6em;overflow:auto;max-height:30em;white-space:pre-wrap;
word-break:break-all}.muted{color:#57606a}svg text{font:11px sans-serif}
.versions{display:flex;flex-wrap:wrap;gap:.5em;list-style:none;padding:0}
.version{border:1px solid #d0d7de;border-radius:6px;padding:.4em .7em;max-width:22em}
.version.reset{border-left:6px solid #cf222e}.reset-mark{color:#cf222e}
"""


def _e(value: object) -> str:
    """Text of any value, HTML-escaped (quotes included); None shows as an empty cell.

    Controls and bidi overrides from the evidence would hide or disguise text (and act on
    a terminal showing the file): they are shown as escapes (``\\x1b``, ``\\u202e``);
    line breaks are kept.
    """
    if value is None:
        return ""
    lines = str(value).split("\n")
    return escape("\n".join(terminal_safe(line) for line in lines), quote=True)


def _figure(key: str, label: str, value: object) -> str:
    return f'<div class="figure" id="figure-{_e(key)}"><b>{_e(value)}</b>{_e(label)}</div>'


def _table(headers: list[str], rows: list[list[object]], table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(map(_cell, row)) + "</tr>" for row in rows)
    return f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value: object) -> str:
    """A numeric cell is right-aligned (a bool is not a number here)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{_e(value)}</td>'
    return f"<td>{_e(value)}</td>"


def _bucket(day: date, unit: str) -> str:
    if unit == "day":
        return day.isoformat()
    if unit == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def downloads_per_period(report: Report) -> tuple[str, list[tuple[str, int, int, int]]]:
    """(unit, [(period, downloads, duplicate copies delivered, recovered downloads)]).

    Downloads are counted on the BLOB's own calendar (its dates, as recorded); duplicate
    copies by their UTC delivery date; recovered downloads are those only an earlier
    version found in free space still records (its lost entries). Days become ISO weeks,
    then months, so that there are never more than MAX_BARS bars.
    """
    downloads = _download_days(e for r in report.histories for e in r.history.entries)
    recovered = _download_days(e for i in report.extra.get("recovered") or [] for e in i.lost)
    copies = Counter(
        datetime.fromisoformat(copy["delivery_time"]).date()
        for group in report.extra.get("audit", {}).get("duplicates", [])
        for copy in group["copies"]
        if copy.get("delivery_time")
    )
    days = set(downloads) | set(copies) | set(recovered)
    for unit in ("day", "week", "month"):
        periods = sorted({_bucket(d, unit) for d in days})
        if len(periods) <= MAX_BARS:
            break
    got, dup, rec = series = (Counter[str](), Counter[str](), Counter[str]())
    for counts, out in zip((downloads, copies, recovered), series, strict=True):
        for d, n in counts.items():
            out[_bucket(d, unit)] += n
    if len(periods) > MAX_BARS:  # centuries of bogus dates: keep the busiest periods
        periods = sorted(sorted(periods, key=lambda p: -(got[p] + dup[p] + rec[p]))[:MAX_BARS])
    return unit, [(p, got[p], dup[p], rec[p]) for p in periods]


def _download_days(entries: Iterable[Any]) -> Counter[date]:
    """Dated downloads (get, get-and-delete) per day of the BLOB's own calendar."""
    gets = (e for e in entries if e.operation in ("get", "get-and-delete"))
    return Counter(e.timestamp.date() for e in gets if e.timestamp is not None)


_SERIES = (
    ("get", "#0969da", "downloads"),
    ("dup", "#cf222e", "duplicate copies"),
    ("recovered", "#8250df", "recovered downloads (earlier history)"),
)


def _chart(unit: str, bars: list[tuple[str, int, int, int]]) -> str:
    """Grouped bars (downloads, duplicate copies, recovered) as inline SVG, titled."""
    if not bars:
        return '<p class="muted" id="chart-empty">No dated download to chart.</p>'
    shown = _SERIES if any(b[3] for b in bars) else _SERIES[:2]
    top = max(max(b[1:]) for b in bars) or 1
    width, height, left, bottom = max(320, 12 * len(shown) * len(bars) + 60), 220, 40, 60
    plot = height - bottom - 10
    step = (width - left - 10) / len(bars)
    parts = [
        f'<svg id="downloads-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="Downloads per {_e(unit)}">',
        f'<line x1="{left}" y1="{10 + plot}" x2="{width - 10}" y2="{10 + plot}" stroke="#57606a"/>',
        f'<text x="{left - 4}" y="18" text-anchor="end">{top}</text>',
        f'<text x="{left - 4}" y="{10 + plot}" text-anchor="end">0</text>',
    ]
    bar = max(2.0, step / len(shown) - 2)
    for i, (period, *values) in enumerate(bars):
        x = left + i * step + 1
        for k, ((name, colour, what), value) in enumerate(zip(shown, values, strict=False)):
            h = plot * value / top
            parts.append(
                f'<rect class="bar-{name}" x="{x + k * bar:.1f}" '
                f'y="{10 + plot - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{_e(period)}: {value} {what}</title></rect>"
            )
        if len(bars) <= 40 or i % max(1, len(bars) // 20) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 14}" '
                f'transform="rotate(45 {x:.1f} {height - bottom + 14})">'
                f"{_e(period)}</text>"
            )
    parts.append("</svg>")
    recovered = (
        ' &nbsp; <span style="color:#8250df">&#9632;</span> downloads only an '
        "earlier history recovered from free space records (BLOB calendar)"
        if len(shown) == 3
        else ""
    )
    legend = (
        '<p class="muted"><span style="color:#0969da">&#9632;</span> downloads '
        "(history entries, BLOB calendar) &nbsp; "
        '<span style="color:#cf222e">&#9632;</span> duplicate copies delivered (UTC)'
        f"{recovered}, per {_e(unit)}.</p>"
    )
    return "".join(parts) + legend


def _recovered(audit: dict[str, Any]) -> str:
    """Recovered versions per account: evidence of a past state, not of the present one."""
    rows = [
        [
            account["account"],
            version["kind"],
            version["offset"],
            version["relation"],
            version["latest"],
            version["entries"],
            sum(1 for e in account["lost_entries"] if e["recovered"] == version["recovered"]),
        ]
        for account in audit.get("recovered", [])
        for version in account["versions"]
    ]
    if not rows:
        return '<p id="recovered-none">No earlier history was recovered from free space.</p>'
    return (
        '<p class="muted">Found in space the store no longer uses: each is evidence of '
        "an earlier state of a history, not of the present one.</p>"
        + _table(
            ["account", "kind", "file offset", "relation", "latest tag", "entries", "lost entries"],
            rows,
            "recovered",
        )
    )


def _accounts(audit: dict[str, Any]) -> str:
    rows = []
    for account in audit["accounts"]:
        server = account.get("server")
        counts = server["counts"] if server else {}
        rows.append(
            [
                account["account"],
                len(account["histories"]),
                account["history_uids"],
                ", ".join(f"{k} {v}" for k, v in sorted(account["operations"].items())),
                server["listing"] if server else "no listing",
                *(counts.get(c, "-") for c in CLASSES),
            ]
        )
    headers = ["account", "histories", "history UIDs", "operations", "server listing"]
    return _table([*headers, *(c.replace("_", " ") for c in CLASSES)], rows, "accounts")


def _histories(data: dict[str, Any]) -> str:
    """One row per history: where it is, its companions, anomalies, and the slack's text
    (leftover memory that can hold addresses, subjects or paths)."""
    rows = []
    for h in data["histories"]:
        loc, blob = h["location"], h["blob"]
        slack = (blob or {}).get("slack") or {}
        companions = "; ".join(
            f"{c['long_filename'] or c['filename'] or c['display_name'] or c['index']} "
            f"({'no data' if c['size'] is None else str(c['size']) + ' B'})"
            for c in loc["companions"]
        )
        rows.append(
            [
                h["source"],
                h["account"]["email"] or h["account"]["mini_uid"],
                h["account"]["mini_uid"] if h["account"]["email"] else None,
                h["profile"]["name"],
                loc["match_rule"],
                loc["attachment_name"],
                "no history attachment" if blob is None else len(h["entries"]),
                companions,
                ", ".join(f"{a['severity']} {a['code']}" for a in h["anomalies"]),
                _slack_bytes(slack),
                "\n".join(slack.get("text", ())) or None,
            ]
        )
    if not rows:
        return '<p id="histories-none">No POP3 download history and no Message Manager.</p>'
    return _table(
        [
            "source",
            "account",
            "mini UID",
            "profile",
            "rule",
            "attachment",
            "entries",
            "companion attachments",
            "anomalies",
            "slack (bytes: hex)",
            "slack text",
        ],
        rows,
        "histories",
    )


def _slack_bytes(slack: dict[str, Any]) -> str | None:
    if not slack:
        return None
    shown = slack["hex"][: 2 * MAX_SLACK_BYTES_SHOWN]
    more = " ... (the JSON report has all)" if len(slack["hex"]) > len(shown) else ""
    return f"{slack['size']}: {shown}{more}"


def _duplicates(audit: dict[str, Any]) -> str:
    groups = audit["duplicates"]
    if not groups:
        return '<p id="duplicates-none">No message is present more than once.</p>'
    rows = []
    for group in groups[:MAX_GROUPS_SHOWN]:
        ident = group["internet_message_id"] or f"({group['key_method']})"
        for n, copy in enumerate(group["copies"]):
            rows.append(
                [
                    ident if n == 0 else "",
                    group.get("subject") if n == 0 else "",
                    copy["folder"],
                    copy["nid"],
                    copy["delivery_time"],
                ]
            )
    more = len(groups) - MAX_GROUPS_SHOWN
    note = f'<p class="muted">{more} more groups are in the JSON report.</p>' if more > 0 else ""
    headers = ["Internet Message-ID", "subject", "folder", "nid", "delivery time (UTC)"]
    return _table(headers, rows, "duplicates") + note


def _evidence_text(evidence: Any) -> str:
    text = json.dumps(evidence, indent=1, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_EVIDENCE_CHARS:
        text = text[:MAX_EVIDENCE_CHARS] + "\n... (cut; the JSON report has all of it)"
    return text


def _alternatives(finding: dict[str, Any]) -> str:
    items = "".join(
        f"<li>{_e(a['explanation'])} <i>Would settle it:</i> {_e(a['would_settle'])}</li>"
        for a in finding.get("alternatives", [])
    )
    return (
        f'<p>Other explanations that fit:</p><ul class="alternatives">{items}</ul>' if items else ""
    )


def _findings(audit: dict[str, Any]) -> str:
    if not audit["findings"]:
        return (
            '<p id="findings-none">No cause finding: the traces fit none of the known causes.</p>'
        )
    return "".join(
        f'<div class="finding" id="finding-{n}"><h3><code>{_e(finding["code"])}</code> '
        f"<small>{_e(finding.get('severity'))}</small></h3>"
        f"<p>{_e(finding['explanation'])}</p>{_alternatives(finding)}"
        "<details><summary>Evidence</summary>"
        f"<pre>{_e(_evidence_text(finding['evidence']))}</pre></details></div>"
        for n, finding in enumerate(audit["findings"])
    )


def _provenance(data: dict[str, Any]) -> str:
    run = data["run"]
    tool = data["tool"]
    software = ", ".join(
        [tool.get("python", "")]
        + [f"{name} {found or 'not installed'}" for name, found in tool.get("backends", {}).items()]
    )
    rows = [
        ["tool", f"{tool['name']} {tool['version']}"],
        ["software", software],
        ["command line", " ".join(run["command_line"])],
        ["run id", run["run_id"]],
        ["started", run["started_at"]],
        ["finished", run["finished_at"]],
    ]
    sources = [
        [
            s["path"],
            s["kind"],
            s.get("variant"),
            s["size"],
            s["sha256"],
            s["md5"],
            "; ".join(s["errors"]),
        ]
        for s in data["sources"]
    ]
    listings = [
        [n.get("path"), n.get("account"), n.get("matched_by"), n.get("count")]
        for n in data.get("audit", {}).get("listings", [])
    ]
    headers = ["path", "kind", "variant", "size", "SHA-256", "MD5", "errors"]
    html = _table(["", ""], rows, "run") + "<h3>Evidence</h3>" + _table(headers, sources, "sources")
    if listings:
        headers = ["path", "account", "matched by", "UIDs"]
        html += "<h3>Server listings</h3>" + _table(headers, listings, "listings")
    return html


def to_html(report: Report) -> str:
    """The whole report as one HTML document (UTF-8, no external reference)."""
    data = report.to_dict()
    audit = data.get("audit") or {}
    summary = audit.get("summary", {})
    clock = audit.get("clock", {})
    unit, bars = downloads_per_period(report)
    figures = "".join(
        [
            _figure("histories", "histories", summary.get("histories", len(report.histories))),
            _figure("entries", "history entries", summary.get("entries", 0)),
            _figure("messages", "messages in the store", summary.get("messages", 0)),
            _figure("duplicate-groups", "duplicated messages", summary.get("duplicate_groups", 0)),
            _figure("duplicate-copies", "copies of them", summary.get("duplicate_copies", 0)),
            _figure("clock", "BLOB clock (UTC offset)", clock.get("offset") or "unknown"),
            _figure("findings", "cause findings", len(audit.get("findings", []))),
        ]
    )
    codes = ", ".join(summary.get("findings", [])) or "none"
    demo = (
        '<p class="demo" id="demo">Demo: this report is about the bundled demo evidence, '
        "not your data.</p>"
        if report.demo
        else ""
    )
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(TOOL_NAME)} audit</title><style>{STYLE}</style></head><body>",
        f"<h1>POP3 download audit</h1>{demo}",
        f'<p class="muted">{_e(TOOL_NAME)} {_e(data["tool"]["version"])}, run '
        f"{_e(data['run']['run_id'])}, generated {_e(data['generated_at'])}.</p>",
        '<h2 id="summary">Summary</h2>',
        f'<div class="figures">{figures}</div>',
        f'<p id="finding-codes">Findings: <b>{_e(codes)}</b>.</p>',
        f'<p id="clock-explanation">{_e(clock.get("explanation", ""))}</p>',
        lineage_rows_html(audit, _e) if audit else "",
        '<h2 id="accounts-heading">Accounts against the server listing</h2>',
        _accounts(audit) if audit else "",
        '<h2 id="histories-heading">Histories and Message Managers</h2>',
        _histories(data),
        f'<h2 id="chart-heading">Downloads per {_e(unit)}</h2>',
        _chart(unit, bars),
        '<h2 id="recovered-heading">Recovered earlier histories</h2>',
        _recovered(audit) if audit else "",
        '<h2 id="duplicates-heading">Duplicate messages</h2>',
        _duplicates(audit) if audit else "",
        '<h2 id="findings-heading">Findings</h2>',
        _findings(audit) if audit else "",
        '<h2 id="provenance">Provenance</h2>',
        _provenance(data),
        "</body></html>",
    ]
    return "\n".join(sections) + "\n"
