"""A test per finding code: every code the docs list is produced by name from real input.

The cases are driven by the code tables of docs/ (a Markdown table whose first header is
``code``): each row is one case, produced from crafted, damaged or real input, with its
offset and its severity checked. The test fails when a documented code has no producer
here (or the producer no longer makes it), when a code made by ``src/`` is not documented,
and when the severity table (``findings.SEVERITY``, docs/report-schema.md) misses a code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from conftest import REAL_SAMPLES, REPO
from uidl_inspector.exceptions import CorruptStructureError
from uidl_inspector.findings import SEVERITY, Finding

DOCS = REPO / "docs"
CODE_DOCS = ("store-findings", "artifact", "audit", "recovery", "images", "locating")
NO_OFFSET = object()  # the record has no offset key at all (audit findings)


# ---------------------------------------------------------------- the documented codes


def _heading_key(heading: str) -> str:
    return re.sub(r"[^a-z0-9]", "", heading.split()[0].lower())


def documented_cases() -> dict[str, str]:
    """``doc/section:code`` -> code, for every row of every code table in CODE_DOCS."""
    cases: dict[str, str] = {}
    for stem in CODE_DOCS:
        heading, in_table = "", False
        for line in (DOCS / f"{stem}.md").read_text().splitlines():
            if line.startswith("#"):
                heading = _heading_key(line.lstrip("#").strip())
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("|"):
                in_table = False
            elif cells[0].lower() == "code":
                in_table = True
            elif in_table and not set(cells[0]) <= set("-: "):
                for code in re.findall(r"`([a-z0-9_]+)`", cells[0]):
                    cases[f"{stem}/{heading}:{code}"] = code
    return cases


def documented_severities() -> dict[str, set[str]]:
    """The codes that docs/report-schema.md's severity table names for each severity."""
    text = (DOCS / "report-schema.md").read_text()
    table = text.split("### Severity", 1)[1].split("\n\n", 2)[2]
    out: dict[str, set[str]] = {}
    for line in table.splitlines():
        if not line.startswith("|"):
            break
        cells = line.strip("|").split("|")
        if cells[0].strip().startswith("`"):
            out[cells[0].strip().strip("`")] = set(re.findall(r"`([a-z0-9_]+)`", cells[2]))
    return out


DOCUMENTED = documented_cases()
DOC_SEVERITY = documented_severities()


def doc_severity(code: str) -> str:
    for severity in ("info", "error"):
        if code in DOC_SEVERITY[severity]:
            return severity
    return "warning"


# ---------------------------------------------------------------- what src/ produces


def _finding_makers(trees: list[ast.Module]) -> set[str]:
    """Callables whose first parameter is ``code`` (functions, classes through their
    ``__init__``/``__call__`` or first dataclass field), and names bound to their calls."""
    makers: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                params = [a.arg for a in node.args.args if a.arg != "self"]
                if params[:1] == ["code"] and not node.name.startswith("__"):
                    makers.add(node.name)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name in ("__init__", "__call__"):
                        if [a.arg for a in item.args.args][1:2] == ["code"]:
                            makers.add(node.name)
                    if isinstance(item, ast.AnnAssign):
                        if getattr(item.target, "id", None) == "code":
                            makers.add(node.name)
                        break
    callables = {
        n.name
        for tree in trees
        for n in ast.walk(tree)
        if isinstance(n, ast.ClassDef) and any(getattr(i, "name", "") == "__call__" for i in n.body)
    } & makers
    for tree in trees:  # record = _Recorder(sink); self._record = _Recorder(self.findings)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                if _callee(node.value) in callables:
                    makers |= {
                        getattr(t, "id", None) or getattr(t, "attr", "") for t in node.targets
                    }
    return makers


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Call):  # _Recorder(sink)(code, ...)
        return _callee(func)
    return getattr(func, "id", None) or getattr(func, "attr", None)


def produced_in_src() -> dict[str, str]:
    """Every code given as a literal to a finding maker in src/: code -> where."""
    paths = sorted((REPO / "src" / "uidl_inspector").rglob("*.py"))
    trees = [ast.parse(p.read_text()) for p in paths]
    makers = _finding_makers(trees)
    out: dict[str, str] = {}
    for path, tree in zip(paths, trees, strict=True):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and _callee(node) in makers:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    out.setdefault(first.value, f"{path.relative_to(REPO)}:{node.lineno}")
    return out


def test_every_code_src_makes_is_documented():
    made = produced_in_src()
    assert len(made) > 80  # the scan sees the makers (Finding, LtpError, record, note...)
    missing = {code: where for code, where in made.items() if code not in set(DOCUMENTED.values())}
    assert missing == {}


def test_severity_table_lists_every_documented_code():
    codes = set(DOCUMENTED.values())
    assert set(SEVERITY) == codes
    for severity in ("info", "error"):
        assert DOC_SEVERITY[severity] == {c for c, s in SEVERITY.items() if s == severity}
    assert DOC_SEVERITY["info"] | DOC_SEVERITY["error"] <= codes


def test_every_documented_case_has_a_producer():
    assert sorted(set(DOCUMENTED) - set(PRODUCERS)) == []
    assert sorted(set(PRODUCERS) - set(DOCUMENTED)) == []


# ---------------------------------------------------------------- producers

Produced = tuple[Iterable[Any], Any]  # the findings made, and the offset the case expects
PRODUCERS: dict[str, Callable[..., Produced]] = {}
FIXTURES: dict[str, tuple[str, ...]] = {}  # fixtures a producer takes after (tmp_path, code)


def produces(
    *keys: str, fixtures: tuple[str, ...] = ()
) -> Callable[[Callable[..., Produced]], Callable[..., Produced]]:
    def register(func: Callable[..., Produced]) -> Callable[..., Produced]:
        for key in keys:
            PRODUCERS[key] = func
            FIXTURES[key] = fixtures
        return func

    return register


def _as_dict(finding: Any) -> dict[str, Any]:
    return finding if isinstance(finding, dict) else finding.to_dict()


@pytest.mark.parametrize("key", sorted(DOCUMENTED))
def test_code_is_produced(key, tmp_path, request):
    code = DOCUMENTED[key]
    producer = PRODUCERS.get(key)
    assert producer is not None, f"{key}: documented, but no test produces it"
    fixtures = [request.getfixturevalue(name) for name in FIXTURES[key]]
    found, offset = producer(tmp_path, code, *fixtures)
    records = [_as_dict(f) for f in found]
    assert {r["code"] for r in records} <= set(SEVERITY), "an undocumented code was made"
    mine = [r for r in records if r["code"] == code]
    assert mine, f"{key}: not produced; made {[r['code'] for r in records]}"
    for record in mine:
        assert record["severity"] == doc_severity(code) == SEVERITY[code]
    if offset is NO_OFFSET:
        assert all("offset" not in r for r in mine)
    else:
        assert offset in [r["offset"] for r in mine]


# ---------------------------------------------------------------- history BLOB (artifact.md)

GOOD_TAG = b"+b20250303080000UID1\0"  # operation, content, 14-digit time, UID, NUL


def _blob(*tags: bytes, version: int = 3, count: int | None = None, tail: bytes = b"") -> bytes:
    count = len(tags) if count is None else count
    return version.to_bytes(2, "little") + count.to_bytes(2, "little") + b"".join(tags) + tail


def _anomalies(data: bytes) -> list[Finding]:
    from uidl_inspector.history import parse_blob

    return list(parse_blob(data).anomalies)


BLOB_CASES = {  # code: (BLOB, offset the anomaly points at)
    "bad_version": (_blob(GOOD_TAG, version=2), 0),
    "count_mismatch": (_blob(GOOD_TAG, count=3), 2),
    "truncated": (_blob(GOOD_TAG[:-1]), 4),  # the tag at 4 has no NUL
    "trailing_data": (_blob(GOOD_TAG, tail=b"\x01\x02\x03"), 4 + len(GOOD_TAG)),
    "bad_operation": (_blob(b"x" + GOOD_TAG[1:]), 4),
    "bad_content": (_blob(b"+z" + GOOD_TAG[2:]), 5),
    "bad_timestamp": (_blob(b"+b20250230080000UID1\0"), 6),  # 30 February
    "bad_uid_escape": (_blob(b"+b20250303080000U$zz\0"), 21),
    "invalid_utf8": (_blob(b"+b20250303080000U\xff1\0"), 21),
    "duplicate_uid": (_blob(GOOD_TAG, GOOD_TAG), 4 + len(GOOD_TAG) + 16),
    "uid_not_rfc1939": (_blob(b"+b20250303080000" + b"U" * 71 + b"\0"), 20),
}


@produces(*(f"artifact/anomaly:{code}" for code in BLOB_CASES))
def _blob_case(tmp_path: Path, code: str) -> Produced:
    data, offset = BLOB_CASES[code]
    return _anomalies(data), offset


# ---------------------------------------------------------------- server listings (audit.md)

LISTING_CASES = {  # code: (listing, offset)
    "server_error": (b"-ERR no such mailbox\r\n", 0),
    "bad_line": (b"+OK\r\n1 a\r\nnot a line here\r\n.\r\n", 10),
    "invalid_utf8": (b"+OK\r\n1 a\xff\r\n.\r\n", 5),
    "uid_not_rfc1939": (b"+OK\r\n1 " + b"u" * 71 + b"\r\n.\r\n", 5),
    "duplicate_uid": (b"+OK\r\n1 a\r\n2 a\r\n.\r\n", 10),
    "truncated": (b"+OK\r\n1 a\r\n", 10),
    "trailing_data": (b"+OK\r\n1 a\r\n.\r\nmore\r\n", 13),
    "bad_numbering": (b"+OK\r\n2 a\r\n1 b\r\n.\r\n", None),
}


@produces(*(f"audit/server:{code}" for code in LISTING_CASES))
def _listing_case(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.audit.server_listing import read_server_listing

    data, offset = LISTING_CASES[code]
    path = tmp_path / "uidl.txt"
    path.write_bytes(data)
    return read_server_listing(path).findings, offset


# ---------------------------------------------------------------- the audit (audit.md)


def _audit(histories: list[Any], st: Any = None, listings: Iterable[Any] = ()) -> list[dict]:
    from uidl_inspector.audit import run_audit, take_inventory

    inventories = [take_inventory(st, st.path)] if st is not None else []
    return run_audit(histories, inventories, list(listings))["findings"]


def _refetched(count: int, days: int) -> tuple[list, list, list, list]:
    """A mailbox and the same messages downloaded again ``days`` later (new copies, tags)."""
    from datetime import timedelta

    from audit_fakes import mail, mailbox, utc

    start = utc(2025, 3, 3, 8)
    msgs, tags = mailbox(start, count, 0)
    at = start + timedelta(days=days)
    copies = [
        mail(0x300004 + 32 * n, m.props[0x1035], at + timedelta(seconds=2 * n))
        for n, m in enumerate(msgs)
    ]
    new_tags = [
        ("+", (c.props[0x0E06] + timedelta(seconds=1)).replace(tzinfo=None), t[2])
        for c, t in zip(copies, tags, strict=True)
    ]
    return msgs, tags, copies, new_tags


@produces("audit/findings:history_reset")
def _history_reset(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import history, store

    msgs, _, copies, new_tags = _refetched(20, 5)
    return _audit([history(new_tags, source="s.pst")], store("s.pst", msgs + copies)), NO_OFFSET


@produces("audit/findings:multiple_managers")
def _multiple_managers(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import history, store

    msgs, tags, copies, new_tags = _refetched(15, 8)
    old = history(tags, source="s.pst", nid=0x200008, profile="Outlook", key="11" * 16)
    new = history(new_tags, source="s.pst", nid=0x200028, profile="New", key="22" * 16)
    return _audit([old, new], store("s.pst", msgs + copies)), NO_OFFSET


@produces("audit/findings:same_uid_in_two_histories")
def _same_uid(tmp_path: Path, code: str) -> Produced:
    from datetime import timedelta

    from audit_fakes import history, mailbox, store, utc

    msgs, tags = mailbox(utc(2025, 3, 3, 8), 10, 0)
    a = history(tags, source="s.pst", account="one@x", nid=0x200008)
    b = history(
        [(op, ts + timedelta(seconds=30), u) for op, ts, u in tags[2:]],
        source="s.pst",
        account="one@x",
        nid=0x200028,
        profile="Laptop",
        key="33" * 16,
    )
    return _audit([a, b], store("s.pst", msgs)), NO_OFFSET


@produces("audit/findings:uid_scheme_change")
def _uid_scheme_change(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import history, mailbox, store, utc

    msgs, tags = mailbox(utc(2025, 3, 3, 8), 12, 0)
    tags = tags[:6] + [(op, ts, f"{1000 + n}.{n * 7919}") for n, (op, ts, _) in enumerate(tags[6:])]
    return _audit([history(tags, source="s.pst")], store("s.pst", msgs)), NO_OFFSET


@produces("audit/findings:get_without_delete")
def _get_without_delete(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import history, mailbox, store, utc

    msgs, tags = mailbox(utc(2025, 3, 3, 8), 10, 0)
    tags = [("&" if n != 4 else "+", ts, u) for n, (_, ts, u) in enumerate(tags)]
    return _audit([history(tags, source="s.pst")], store("s.pst", msgs)), NO_OFFSET


@produces("audit/findings:blob_anomaly")
def _blob_anomaly(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import history, mailbox, store, utc

    msgs, tags = mailbox(utc(2025, 3, 3, 8), 5, 0)
    bad = history(tags, source="s.pst", anomalies=_anomalies(BLOB_CASES["count_mismatch"][0]))
    return _audit([bad], store("s.pst", msgs)), NO_OFFSET


@produces("audit/findings:history_missing")
def _history_missing(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import mailbox, store, utc
    from uidl_inspector.audit.server_listing import parse_server_listing

    msgs, _ = mailbox(utc(2025, 3, 3, 8), 5, 0)
    return _audit([], store("s.pst", msgs), [parse_server_listing("u1\nu2\n", "l.txt")]), NO_OFFSET


@produces("audit/findings:clock_mismatch")
def _clock_mismatch(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import history, mailbox, store, utc

    msgs, tags = mailbox(utc(2025, 3, 3, 8), 25, 60)  # tags written one hour ahead of UTC
    return _audit([history(tags, source="s.pst")], store("s.pst", msgs)), NO_OFFSET


@produces("audit/findings:older_mail_untagged")
def _older_mail_untagged(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.pipeline import audit_report

    (path,) = (REAL_SAMPLES / "pop3").glob("tghanem-user1-20170625-*.pst")  # pruned by Outlook
    report, failed = audit_report([str(path)], [])
    assert failed == []
    return report.extra["audit"]["findings"], NO_OFFSET


@produces("audit/server:store_unreadable")
def _store_unreadable(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import store
    from uidl_inspector.audit import take_inventory
    from uidl_inspector.exceptions import CorruptStructureError

    st = store("s.pst", [])

    def unreadable_root() -> Any:
        raise CorruptStructureError("node 0x122 is missing", None)

    st.root_folder = unreadable_root
    return take_inventory(st, st.path).findings, None


@produces("audit/server:unreadable")
def _inventory_unreadable(tmp_path: Path, code: str) -> Produced:
    from audit_fakes import store
    from uidl_inspector.audit import take_inventory

    st = store("s.pst", [])
    st.root.children[0].children[0].broken_contents = True  # contents table at 0x8000
    return take_inventory(st, st.path).findings, 0x8000


# ---------------------------------------------------------------- PST/OST (store-findings.md)


def _store_bytes(fmt: Any = None, nodes: list | None = None, **kw: Any) -> bytes:
    """A minimal schema-built store (tests/test_pst_reader.py) with node 0x21 by default."""
    from test_pst_reader import STORE_PROPS, _build_store, _pc
    from uidl_inspector.schemas import ndb

    fmt = fmt or ndb.UNICODE
    if nodes is None:
        nodes = [(0x21, _pc(STORE_PROPS, fmt.name == "4k"), 0)]
    return _build_store(fmt, nodes, **kw)


def _read_store(tmp_path: Path, data: bytes, check_parents: bool = False) -> list[Finding]:
    """Every finding of a full read: store, folders, messages, attachments, embedded."""
    from uidl_inspector.store.pst import open_pst

    path = tmp_path / "damaged.pst"
    path.write_bytes(data)
    with open_pst(path, check_parents=check_parents) as store:
        found = list(store.findings)
        _ = dict(store.props)
        try:
            root = store.root_folder()
        except CorruptStructureError:  # a schema-built store has no root folder (0x122)
            return found + [f for f in store.findings if f not in found]
        stack, seen = [root], set()
        while stack:
            folder = stack.pop()
            if folder.nid in seen:
                continue
            seen.add(folder.nid)
            for message in [*folder.messages(), *folder.associated()]:
                found += _message_findings(message)
            stack.extend(folder.subfolders())
            found += folder.findings
        return found + [f for f in store.findings if f not in found]


def _message_findings(message: Any, depth: int = 0) -> list[Finding]:
    _ = (message.message_class, dict(message.props), message.recipients())
    found = []
    for attachment in message.attachments():
        _ = attachment.data
        embedded = attachment.embedded()
        if embedded is not None and depth < 20:
            found += _message_findings(embedded, depth + 1)
        found += attachment.findings
    return found + message.findings


def _root_of(data: bytes, which: str = "BREFNBT") -> tuple[int, int]:
    from uidl_inspector.schemas import ndb

    ref = ndb.UNICODE.HEADER.parse(data).root[which]
    return ref.ib, ref.bid


def _edit_page(data: bytes, ib: int, fix_crc: bool = True, **changes: Any) -> bytes:
    """A unicode B-tree page with fields (or ``pageTrailer_<field>``) changed."""
    from uidl_inspector.schemas import ndb

    fmt = ndb.UNICODE
    raw = data[ib : ib + fmt.page_size]
    page = dict(fmt.BTPAGE.parse(raw))
    trailer = dict(page["pageTrailer"])
    for name, value in changes.items():
        if name.startswith("pageTrailer_"):
            trailer[name.removeprefix("pageTrailer_")] = value
        else:
            page[name] = value
    page["pageTrailer"] = trailer
    out = bytearray(fmt.BTPAGE.build(page))
    if fix_crc:
        trailer["dwCRC"] = ndb.page_crc(fmt, bytes(out))
        out = bytearray(fmt.BTPAGE.build(dict(page, pageTrailer=trailer)))
    return data[:ib] + bytes(out) + data[ib + len(out) :]


def _edit_header(data: bytes, **root: Any) -> bytes:
    """A unicode header with ROOT fields changed and its CRCs made right again."""
    from uidl_inspector.schemas import ndb

    fmt = ndb.UNICODE
    header = dict(fmt.HEADER.parse(data))
    header["root"] = dict(header["root"], **root)
    raw = bytearray(fmt.HEADER.build(header))
    raw[4:8] = ndb.header_crc_partial(raw).to_bytes(4, "little")
    raw[524:528] = ndb.header_crc_full(raw).to_bytes(4, "little")
    return bytes(raw) + data[len(raw) :]


def _flip(data: bytes, at: int, mask: int = 0xFF) -> bytes:
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


@produces("store-findings/file:header_crc_mismatch")
def _header_crc(tmp_path: Path, code: str) -> Produced:
    return _read_store(tmp_path, _flip(_store_bytes(), 4, 1)), 4


@produces("store-findings/file:header_bad_sentinel")
def _header_sentinel(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas import ndb

    data = _store_bytes()
    header = dict(ndb.UNICODE.HEADER.parse(data), bSentinel=0x81)
    raw = bytearray(ndb.UNICODE.HEADER.build(header))
    return _read_store(tmp_path, bytes(raw) + data[len(raw) :]), None


@produces("store-findings/file:file_truncated")
def _file_truncated(tmp_path: Path, code: str) -> Produced:
    data = _store_bytes() + bytes(512)
    data = _edit_header(data, ibFileEof=len(data))[:-512]
    return _read_store(tmp_path, data), len(data)


@produces("store-findings/file:file_size_mismatch")
def _file_size_mismatch(tmp_path: Path, code: str) -> Produced:
    data = _store_bytes()
    return _read_store(tmp_path, data + bytes(512)), len(data)


@produces("store-findings/file:store_properties_missing")
def _store_properties_missing(tmp_path: Path, code: str) -> Produced:
    from test_pst_reader import _heap

    return _read_store(tmp_path, _store_bytes(nodes=[(0x61, _heap(0xBC, [b"x"]), 0)])), None


PAGE_DAMAGE = {  # code: NBT root page changes (the BBT root still reads, so the store opens)
    "page_bad_trailer": dict(),  # ptypeRepeat, which the declaration's Check keeps equal
    "page_type_mismatch": dict(pageTrailer_ptype=0x80, pageTrailer_ptypeRepeat=0x80),
    "page_bid_mismatch": dict(pageTrailer_bid=0x1234),
    "page_crc_mismatch": dict(pageTrailer_dwCRC=0, fix_crc=False),
    "page_sig_mismatch": dict(pageTrailer_wSig=0),
    "page_bad_counts": dict(cbEnt=1),
    "btree_too_deep": dict(cLevel=9),
}


@produces(*(f"store-findings/btree:{code}" for code in PAGE_DAMAGE))
def _page_damage(tmp_path: Path, code: str) -> Produced:
    data = _store_bytes()
    ib, _ = _root_of(data)
    data = _edit_page(data, ib, **PAGE_DAMAGE[code])
    if code == "page_bad_trailer":
        data = _flip(data, ib + 497, 0x01)  # unicode PAGETRAILER: ptype 496, ptypeRepeat 497
    return _read_store(tmp_path, data), ib


@produces("store-findings/btree:page_out_of_bounds")
def _page_out_of_bounds(tmp_path: Path, code: str) -> Produced:
    data = _store_bytes()
    ib, bid = _root_of(data)
    bad = len(data) + 0x10000
    return _read_store(tmp_path, _edit_header(data, BREFNBT=dict(ib=bad, bid=bid))), bad


@produces("store-findings/btree:btree_key_order")
def _btree_key_order(tmp_path: Path, code: str) -> Produced:
    from test_pst_reader import STORE_PROPS, _pc

    data = _store_bytes(nodes=[(0x21, _pc(STORE_PROPS), 0), (0x61, _pc(STORE_PROPS), 0)])
    ib, _ = _root_of(data)
    size = 32  # a unicode NBTENTRY: swap the first two
    first, second = data[ib : ib + size], data[ib + size : ib + 2 * size]
    data = data[:ib] + second + first + data[ib + 2 * size :]
    return _read_store(tmp_path, _edit_page(data, ib)), ib


def _two_level(data: bytes, level: int, children: int) -> tuple[bytes, int, int]:
    """The store with a new NBT root: a level-``level`` page whose ``children`` entries all
    point to the old leaf root. Returns the data, the new page's offset and the leaf's."""
    from uidl_inspector.schemas import ndb
    from uidl_inspector.schemas.encoding import compute_sig

    fmt = ndb.UNICODE
    leaf_ib, leaf_bid = _root_of(data)
    ib, bid = len(data), 0x200
    entries = [
        fmt.BTENTRY.build(dict(btkey=n, BREF=dict(bid=leaf_bid, ib=leaf_ib)))
        for n in range(children)
    ]
    page = dict(
        rgentries=b"".join(entries).ljust(fmt.btentries_size, b"\0"),
        cEnt=children,
        cEntMax=fmt.btentries_size // fmt.BTENTRY.sizeof(),
        cbEnt=fmt.BTENTRY.sizeof(),
        cLevel=level,
        pageTrailer=dict(
            ptype=ndb.PTYPE_NBT,
            ptypeRepeat=ndb.PTYPE_NBT,
            wSig=compute_sig(ib, bid),
            dwCRC=0,
            bid=bid,
        ),
    )
    data = data + fmt.BTPAGE.build(page)
    data = _edit_page(data, ib)
    return _edit_header(data, BREFNBT=dict(ib=ib, bid=bid), ibFileEof=len(data)), ib, leaf_ib


@produces("store-findings/btree:page_level_mismatch")
def _page_level_mismatch(tmp_path: Path, code: str) -> Produced:
    data, _, leaf = _two_level(_store_bytes(), 2, 1)  # the leaf (level 0) is not level 1
    return _read_store(tmp_path, data), leaf


@produces("store-findings/btree:btree_cycle")
def _btree_cycle(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas import ndb
    from uidl_inspector.store.pst import open_pst

    data, _, leaf = _two_level(_store_bytes(), 1, 2)  # two entries, one leaf
    path = tmp_path / "cycle.pst"
    path.write_bytes(data)
    with open_pst(path) as store:  # a whole-tree walk meets the leaf twice
        assert [e.nid for e in store.ndb.btrees.iter_entries(ndb.PTYPE_NBT)] == [0x21]
        return list(store.findings), leaf


def _block(data: bytes, tmp_path: Path, nid: int = 0x21) -> tuple[int, int, int]:
    """Offset, stored size and trailer offset of the data block of node ``nid``."""
    from uidl_inspector.schemas import ndb
    from uidl_inspector.store.pst import open_pst

    path = tmp_path / "good.pst"
    path.write_bytes(data)
    with open_pst(path) as store:
        entry = store.ndb.btrees.block_entry(store.ndb.btrees.node_entry(nid).bid_data)
    fmt = ndb.UNICODE
    return entry.ib, entry.cb, entry.ib + ndb.block_size(fmt, entry.cb) - fmt.block_trailer_size


BLOCK_DAMAGE = {  # code: (where to flip, relative to the block or its trailer; the offset)
    "block_crc_mismatch": (("ib", 8), "ib"),  # rgbFillLevel: the heap still reads
    "block_sig_mismatch": (("tail", 2), "tail"),  # wSig
    "block_size_mismatch": (("tail", 0), "tail"),  # cb
    "block_bid_mismatch": (("tail", 9), "tail"),  # bid
}


@produces(*(f"store-findings/blocks:{code}" for code in BLOCK_DAMAGE))
def _block_damage(tmp_path: Path, code: str) -> Produced:
    data = _store_bytes()
    ib, _, tail = _block(data, tmp_path)
    where = {"ib": ib, "tail": tail}
    (base, delta), offset = BLOCK_DAMAGE[code]
    return _read_store(tmp_path, _flip(data, where[base] + delta, 0x01)), where[offset]


@produces("store-findings/blocks:block_not_found")
def _block_not_found(tmp_path: Path, code: str) -> Produced:
    return _read_store(tmp_path, _store_bytes(nodes=[(0x21, 0x4000, 0)])), None


@produces("store-findings/blocks:block_out_of_bounds")
def _block_out_of_bounds(tmp_path: Path, code: str) -> Produced:
    data = _store_bytes()
    ib, _, _ = _block(data, tmp_path)
    page, _ = _root_of(data, "BREFBBT")
    at = page + 16  # the only BBTENTRY's cb: larger than a block can hold
    data = data[:at] + (0xFFFF).to_bytes(2, "little") + data[at + 2 :]
    return _read_store(tmp_path, _edit_page(data, page)), ib


@produces("store-findings/blocks:block_inflate_failed")
def _block_inflate_failed(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas import ndb
    from uidl_inspector.store.pst import open_pst

    data = _store_bytes(ndb.UNICODE_4K, compress=True, client=b"SO")
    path = tmp_path / "ost4k.ost"
    path.write_bytes(data)
    with open_pst(path) as store:
        ib = store.ndb.btrees.block_entry(store.ndb.btrees.node_entry(0x21).bid_data).ib
    return _read_store(tmp_path, _flip(data, ib + 2)), ib  # the zlib stream breaks


def _subnode_store(fmt: Any, build: Callable[[Any, Callable[..., int]], int]) -> bytes:
    """Node 0x21 whose PC value 0x3701 lives in subnode 0x3F; ``build(fmt, block)``
    returns the bidSub of node 0x21 (test_pst_reader's block writer)."""
    from test_pst_reader import _pc_with_subnode_value

    def prepare(block: Callable[..., int]) -> list:
        sub = build(fmt, block)
        return [(0x21, block(_pc_with_subnode_value(False)), 0, sub)]

    return _store_bytes(fmt, nodes=[], prepare=prepare)


def _sl(fmt: Any, block: Callable[..., int], data_bid: int) -> int:
    return block(
        fmt.SLBLOCK.build(dict(cEnt=1, rgentries=[dict(nid=0x3F, bidData=data_bid, bidSub=0)])),
        True,
    )


def _tree(kind: str) -> Callable[[Any, Callable[..., int]], int]:
    def build(fmt: Any, block: Callable[..., int]) -> int:
        data = block(b"x" * 100)
        if kind == "data_tree_bad_block":  # an XXBLOCK listing a data block, not an XBLOCK
            return _sl(
                fmt, block, block(fmt.XXBLOCK.build(dict(cEnt=1, lcbTotal=100, rgbid=[data])), True)
            )
        if kind == "data_tree_size_mismatch":  # lcbTotal lies
            return _sl(
                fmt, block, block(fmt.XBLOCK.build(dict(cEnt=1, lcbTotal=999, rgbid=[data])), True)
            )
        if kind == "data_tree_cycle":  # an XBLOCK listing its data block twice
            return _sl(
                fmt,
                block,
                block(fmt.XBLOCK.build(dict(cEnt=2, lcbTotal=200, rgbid=[data, data])), True),
            )
        if kind == "subnode_bad_block":  # bidSub names a data block
            return data
        if kind == "subnode_cycle":  # a SIBLOCK listing itself (its BID is the next one)
            me = (data + 4) | 2
            assert (
                block(fmt.SIBLOCK.build(dict(cEnt=1, rgentries=[dict(nid=0x3F, bid=me)])), True)
                == me
            )
            return me
        raise AssertionError(kind)

    return build


@produces(
    *(
        f"store-findings/blocks:{code}"
        for code in (
            "data_tree_bad_block",
            "data_tree_size_mismatch",
            "data_tree_cycle",
            "subnode_bad_block",
            "subnode_cycle",
        )
    )
)
def _tree_damage(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas import ndb

    return _read_store(tmp_path, _subnode_store(ndb.UNICODE, _tree(code))), None


@produces("store-findings/blocks:subnode_missing")
def _subnode_missing(tmp_path: Path, code: str) -> Produced:
    from test_pst_reader import _pc_with_subnode_value

    return _read_store(
        tmp_path, _store_bytes(nodes=[(0x21, _pc_with_subnode_value(False), 0)])
    ), None


def _pc_raw(
    bth: dict | None = None,
    records: bytes | None = None,
    client: int = 0xBC,
    items: list[bytes] | None = None,
) -> bytes:
    """A PC heap: item 1 its BTH header (``bth`` changes it), item 2 its records."""
    from test_pst_reader import _heap
    from uidl_inspector.schemas import ltp

    header = {**dict(cbKey=2, cbEnt=6, bIdxLevels=0, hidRoot=ltp.make_hid(0, 2)), **(bth or {})}
    if records is None:  # PidTagDisplayName whose HID names item 3 (absent unless given)
        records = ltp.PCBTH.build(
            dict(wPropId=0x3001, wPropType=0x1F, dwValueHnid=ltp.make_hid(0, 3))
        )
    return _heap(client, [ltp.BTHHEADER.build(header), records, *(items or [])])


HEAP_CASES: dict[str, Callable[[], bytes]] = {
    "heap_bad_signature": lambda: _pc_raw()[:2] + b"\x00" + _pc_raw()[3:],
    "heap_bad_page_map": lambda: b"\xff\xff" + _pc_raw()[2:],
    "heap_bad_hid": lambda: _pc_raw()[:4] + (9 << 5).to_bytes(4, "little") + _pc_raw()[8:],
    "bth_bad_header": lambda: _pc_raw(dict(cbKey=3)),
    "bth_too_deep": lambda: _pc_raw(dict(bIdxLevels=9)),
    # one index level whose only record points to itself
    "bth_cycle": lambda: _pc_raw(
        dict(bIdxLevels=1), records=b"\0\0" + (2 << 5).to_bytes(4, "little")
    ),
    "bth_bad_record": lambda: _pc_raw(records=bytes(7)),  # not a whole 8-byte record
    "pc_wrong_client": lambda: _pc_raw(client=0x7C),
    "pc_bad_bth": lambda: _pc_raw(dict(cbKey=4)),
    "pc_bad_value": lambda: _pc_raw(),  # the value's HID names an item the heap lacks
}


@produces(*(f"store-findings/heap:{code}" for code in HEAP_CASES))
def _heap_damage(tmp_path: Path, code: str) -> Produced:
    data = _store_bytes(nodes=[(0x21, HEAP_CASES[code](), 0)])
    ib, _, _ = _block(data, tmp_path)
    offset = ib if code in ("heap_bad_signature", "heap_bad_page_map") else None
    return _read_store(tmp_path, data), offset


@produces("store-findings/heap:heap_missing")
def _heap_missing(tmp_path: Path, code: str) -> Produced:
    return _read_store(tmp_path, _store_bytes(nodes=[(0x21, 0, 0)])), None


# ---------------------------------------------------------------- the locator (locating.md)


def _locate(root: Any, deep: bool = False) -> list[Any]:
    """The findings of locate() over a fake store, with its history records' anomalies."""
    from fakes_store import FakeStore
    from uidl_inspector.locate import locate

    result = locate(FakeStore(root), deep=deep)
    return result.findings + [a for h in result.histories for a in h.history.anomalies]


def _manager(*attachments: Any) -> Any:
    from fakes_store import FakeMessage
    from uidl_inspector.schemas.mapi import PropId

    return FakeMessage(
        0x200024,
        {PropId.MESSAGE_CLASS: "IPM.MessageManager", PropId.SEARCH_KEY: bytes(range(16))},
        list(attachments),
    )


def _inbox(*hidden: Any, **kw: Any) -> Any:
    from fakes_store import FakeFolder, folder_tree

    return folder_tree(
        FakeFolder(0x8082, "Inbox", "Top of Personal Folders/Inbox", list(hidden), **kw)
    )


@produces("locating/damage:unreadable")
def _locate_unreadable(tmp_path: Path, code: str) -> Produced:
    from fakes_store import FakeAttachment
    from uidl_inspector.schemas.mapi import PropId

    broken = FakeAttachment(0, {PropId.ATTACH_LONG_FILENAME: "BlobPOPa@b.c"}, broken=True)
    return _locate(_inbox(_manager(broken))), 0x4400  # where the fake's data block failed


@produces("locating/damage:folder_cycle")
def _locate_folder_cycle(tmp_path: Path, code: str) -> Produced:
    root = _inbox()
    inbox = root.children[0].children[0]
    inbox.children = [inbox]  # a folder that is its own child
    return _locate(root), None


@produces("locating/damage:folder_too_deep")
def _locate_folder_too_deep(tmp_path: Path, code: str) -> Produced:
    from fakes_store import FakeFolder

    root = _inbox()
    folder = root.children[0].children[0]
    for depth in range(70):
        child = FakeFolder(0x10000 + 32 * depth, f"f{depth}", f"{folder.path}/f{depth}")
        folder.children = [child]
        folder = child
    return _locate(root), None


@produces("locating/damage:embedding_too_deep")
def _locate_embedding_too_deep(tmp_path: Path, code: str) -> Produced:
    from fakes_store import FakeAttachment, FakeMessage
    from uidl_inspector.schemas.mapi import PropId

    loop = FakeMessage(None, {PropId.MESSAGE_CLASS: "IPM.Note"})
    loop.attachment_list = [FakeAttachment(0, {PropId.ATTACH_METHOD: 5}, None, loop)]
    return _locate(_inbox(_manager(FakeAttachment(0, {}, None, loop)))), None


@produces("locating/damage:history_without_data")
def _locate_history_without_data(tmp_path: Path, code: str) -> Produced:
    from fakes_store import FakeAttachment
    from uidl_inspector.schemas.mapi import PropId

    empty = FakeAttachment(0, {PropId.ATTACH_LONG_FILENAME: "BlobPOPa@b.c"}, None)
    return _locate(_inbox(_manager(empty))), None


@produces("locating/damage:no_history_attachment")
def _locate_no_history_attachment(tmp_path: Path, code: str) -> Produced:
    return _locate(_inbox(_manager())), None


@produces("locating/damage:hex_length_mismatch")
def _locate_hex_length_mismatch(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.pipeline import scan_evidence

    path = tmp_path / "blob.txt"
    blob = _blob(GOOD_TAG)
    path.write_text(f"cb: {len(blob) + 3} lpb: {blob.hex().upper()}\n")
    outcome = scan_evidence([str(path)])
    return outcome.report.to_dict()["sources"][0].get("findings", []), None


# ---------------------------------------------------------------- recovery (recovery.md)


def _scan_findings(path: Path) -> list[dict]:
    """The findings of the scan's sources (store findings, recovery's, the image's)."""
    from uidl_inspector.pipeline import scan_evidence

    outcome = scan_evidence([str(path)])
    assert outcome.failed == [], outcome.failed
    return [f for s in outcome.report.to_dict()["sources"] for f in s.get("findings", [])]


@produces("recovery/how:amap_not_valid")
def _amap_not_valid(tmp_path: Path, code: str) -> Produced:
    path = tmp_path / "schema.pst"
    path.write_bytes(_store_bytes())  # written with fAMapValid 0
    return _scan_findings(path), None


@produces("recovery/how:amap_unreadable")
def _amap_unreadable(tmp_path: Path, code: str) -> Produced:
    from conftest import REAL_PSTS

    source = next(p for p in REAL_PSTS if p.name == "javalibpst-dist-list-unicode.pst")
    path = tmp_path / "amap.pst"
    path.write_bytes(_flip(source.read_bytes(), 0x4400 + 3, 0x01))  # the first AMap's bits
    return _scan_findings(path), 0x4400


# ---------------------------------------------------------------- MSG files (store-findings.md)


def _msg_findings(message: Any, depth: int = 0) -> list[Finding]:
    found = list(message.findings)
    for attachment in message.attachments():
        found += attachment.findings
        inner = attachment.embedded()
        if inner is not None and depth < 20:
            found += _msg_findings(inner, depth + 1)
    return found


def _msg(tmp_path: Path, data: bytes, backend: str = "open") -> list[Finding]:
    """The findings of reading an MSG file through open_msg (extract-msg, then olefile)
    or, for the stream-level checks only olefile makes, through the olefile reader."""
    from uidl_inspector.store.msg import open_msg, read_msg_olefile

    path = tmp_path / "case.msg"
    path.write_bytes(data)
    reader = open_msg if backend == "open" else read_msg_olefile
    return _msg_findings(reader(str(path)))


def _top(entries: list[dict], *streams: Any, attachments: int = 0) -> bytes:
    from uidl_inspector.schemas.msg_props import PROPERTY_STREAM, property_stream
    from uidl_inspector.synth.msg_writer import CompoundFile, Storage, Stream

    header = {
        "next_recipient_id": 0,
        "next_attachment_id": attachments,
        "recipient_count": 0,
        "attachment_count": attachments,
    }
    top = property_stream("top").build({"header": header, "entries": entries})
    return CompoundFile(Storage("Root Entry", [Stream(PROPERTY_STREAM, top), *streams])).to_bytes()


def _class_stream() -> Any:
    from uidl_inspector.synth.msg_writer import Stream

    return Stream("__substg1.0_001A001F", "IPM.Note".encode("utf-16-le"))


def _nested(depth: int) -> bytes:
    """An MSG whose message embeds a message ``depth`` levels deep (more than our writer,
    which stops at 8, will write)."""
    from uidl_inspector.schemas.msg_props import PROPERTY_STREAM, property_stream
    from uidl_inspector.synth.msg_writer import CompoundFile, Storage, Stream

    header = {
        "next_recipient_id": 0,
        "next_attachment_id": 1,
        "recipient_count": 0,
        "attachment_count": 1,
    }
    method = {"prop_type": 0x03, "prop_id": 0x3705, "flags": 6, "value": (5).to_bytes(8, "little")}
    children: list[Any] = [_class_stream()]
    for _ in range(depth):
        attachment = Storage(
            "__attach_version1.0_#00000000",
            [
                Stream(
                    PROPERTY_STREAM,
                    property_stream("attachment").build({"header": {}, "entries": [method]}),
                ),
                Storage(
                    "__substg1.0_3701000D",
                    [
                        Stream(
                            PROPERTY_STREAM,
                            property_stream("embedded").build({"header": header, "entries": []}),
                        ),
                        *children,
                    ],
                ),
            ],
        )
        children = [_class_stream(), attachment]
    top = property_stream("top").build({"header": header, "entries": []})
    return CompoundFile(Storage("Root Entry", [Stream(PROPERTY_STREAM, top), *children])).to_bytes()


def _stream_size(data: bytes, name: str, size: int) -> bytes:
    """The compound file with the directory entry of stream ``name`` declaring ``size``."""
    at = data.index(name.encode("utf-16-le") + b"\0\0")
    assert at % 128 == 0  # a directory entry starts with its name
    return data[: at + 120] + size.to_bytes(4, "little") + data[at + 124 :]


@produces("store-findings/msg:extract_msg_rejected")
def _msg_rejected(tmp_path: Path, code: str) -> Produced:
    from test_msg_reader import _minimal_msg_without_named_map

    return _msg(tmp_path, _minimal_msg_without_named_map()), None


@produces("store-findings/msg:missing_property_stream")
def _msg_missing_property_stream(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.synth.msg_writer import Storage

    bare = Storage("__attach_version1.0_#00000000", [])  # an attachment without properties
    return _msg(tmp_path, _top([], _class_stream(), bare, attachments=1), "olefile"), None


@produces("store-findings/msg:bad_property_stream")
def _msg_bad_property_stream(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas.msg_props import PROPERTY_STREAM
    from uidl_inspector.synth.msg_writer import CompoundFile, Storage, Stream

    short = Stream(PROPERTY_STREAM, bytes(5))  # shorter than the 32-byte header
    return _msg(
        tmp_path,
        CompoundFile(Storage("Root Entry", [short, _class_stream()])).to_bytes(),
        "olefile",
    ), None


@produces("store-findings/msg:trailing_data")
def _msg_trailing_data(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas.msg_props import PROPERTY_STREAM
    from uidl_inspector.synth.msg_writer import CompoundFile, Storage, Stream

    odd = Stream(PROPERTY_STREAM, bytes(32) + bytes.fromhex("1f001a0006"))
    return _msg(
        tmp_path, CompoundFile(Storage("Root Entry", [odd, _class_stream()])).to_bytes(), "olefile"
    ), 32


@produces("store-findings/msg:missing_value_stream")
def _msg_missing_value_stream(tmp_path: Path, code: str) -> Produced:
    entry = {"prop_type": 0x1F, "prop_id": 0x0037, "flags": 6, "value": bytes(8)}
    return _msg(tmp_path, _top([entry], _class_stream())), None


@produces("store-findings/msg:bad_string")
def _msg_bad_string(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.synth.msg_writer import Stream

    lone = Stream("__substg1.0_0037001F", b"\x00\xd8")  # a lone surrogate
    return _msg(tmp_path, _top([], _class_stream(), lone)), None


@produces("store-findings/msg:stream_beyond_file")
def _msg_stream_beyond_file(tmp_path: Path, code: str) -> Produced:
    data = _top([], _class_stream())
    return _msg(
        tmp_path, _stream_size(data, "__substg1.0_001A001F", len(data) + 1), "olefile"
    ), None


@produces("store-findings/msg:truncated_stream")
def _msg_truncated_stream(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.synth.msg_writer import Stream

    big = Stream("__substg1.0_1000001F", "x".encode("utf-16-le") * 3000)  # 6000 bytes
    data = _top([], _class_stream(), big)
    return _msg(tmp_path, _stream_size(data, "__substg1.0_1000001F", 6000 + 1024), "olefile"), None


@produces("store-findings/msg:too_many_attachments")
def _msg_too_many_attachments(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.store.msg import MAX_ATTACHMENTS
    from uidl_inspector.synth.msg_writer import Storage

    count = MAX_ATTACHMENTS + 1
    storages = [Storage(f"__attach_version1.0_#{n:08X}", []) for n in range(count)]
    return _msg(tmp_path, _top([], _class_stream(), *storages, attachments=count), "olefile"), None


@produces("store-findings/msg:attachment_type")
def _msg_attachment_type(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas.mapi import PropType as T
    from uidl_inspector.synth.msg_writer import msg_bytes
    from uidl_inspector.synth.pst_writer import AttachmentSpec, MessageSpec, Prop

    web = AttachmentSpec({0x3705: Prop(T.INT32, 7)})  # ATTACH_BY_WEB_REFERENCE: no data
    return _msg(tmp_path, msg_bytes(MessageSpec({0x1A: Prop(T.UNICODE, "IPM.Note")}, [web]))), None


@produces("store-findings/msg:embedding_too_deep")
def _msg_embedding_too_deep(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.store.model import MAX_EMBED_DEPTH

    return _msg(tmp_path, _nested(MAX_EMBED_DEPTH + 2)), None


# ---------------------------------------------------------------- tables and folders of a
# store written by the synthetic writer (unencoded), then damaged


def _synth_store(tmp_path: Path, folders: Any = None) -> tuple[bytes, Any]:
    """A store with Inbox holding a message with a data and an embedded attachment."""
    from uidl_inspector.schemas.mapi import PropType as T
    from uidl_inspector.synth.pst_writer import (
        AttachmentSpec,
        MessageSpec,
        Prop,
        StoreSpec,
        write_pst,
    )

    spec = StoreSpec() if folders is None else StoreSpec(folders=folders)
    inbox = next((f for f in spec.folders if f.name == "Inbox"), spec.folders[0])
    inner = MessageSpec({0x1A: Prop(T.UNICODE, "IPM.Note"), 0x37: Prop(T.UNICODE, "inner")})
    inbox.messages += [
        MessageSpec(
            {0x1A: Prop(T.UNICODE, "IPM.Note"), 0x37: Prop(T.UNICODE, "outer")},
            [
                AttachmentSpec({0x3707: Prop(T.UNICODE, "a.txt")}, data=b"data"),
                AttachmentSpec({0x3707: Prop(T.UNICODE, "e.msg")}, embedded=inner),
            ],
        ),
        MessageSpec({0x1A: Prop(T.UNICODE, "IPM.Note"), 0x37: Prop(T.UNICODE, "second")}),
    ]
    path = tmp_path / "synth.pst"
    write_pst(spec, path, encoding="none")
    return path.read_bytes(), spec


def _node_span(tmp_path: Path, data: bytes, nid: int, sub: int | None = None) -> int:
    """File offset of the data block of node ``nid`` (or of its subnode ``sub``)."""
    from uidl_inspector.store.pst import open_pst

    path = tmp_path / "lookup.pst"
    path.write_bytes(data)
    with open_pst(path) as store:
        entry = store.ndb.btrees.node_entry(nid)
        bid = entry.bid_data
        if sub is not None:
            bid = store.ndb.blocks.read_subnodes(entry.bid_sub, [])[sub].bid_data
        return store.ndb.btrees.block_entry(bid).ib


def _item(data: bytes, block: int, hid: int) -> int:
    """File offset of heap item ``hid`` in the (single, unencoded) heap block at ``block``."""
    ib_hnpm = int.from_bytes(data[block : block + 2], "little")
    index = hid >> 5
    at = block + ib_hnpm + 4 + 2 * (index - 1)
    return block + int.from_bytes(data[at : at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _put(data: bytes, at: int, value: int, size: int = 4) -> bytes:
    return data[:at] + value.to_bytes(size, "little") + data[at + size :]


def _table(data: bytes, block: int) -> dict[str, int]:
    """Where a TC's parts lie: its TCINFO, row index BTH header and records, row matrix."""
    info = _item(data, block, _u32(data, block + 4))
    bth = _item(data, block, _u32(data, info + 10))
    return {
        "info": info,
        "row_index": bth,
        "records": _item(data, block, _u32(data, bth + 4)),
        "rows": _item(data, block, _u32(data, info + 14)),
        "columns": info + 22,
        "cols": data[info + 1],
    }


TOP = 0x8022  # Top of Personal Folders: its hierarchy table lists the default folders


def _hierarchy(nid: int) -> int:
    return (nid & ~0x1F) | 0x0D


TABLE_DAMAGE: dict[str, Callable[[bytes, int, dict[str, int]], bytes]] = {
    "tc_wrong_client": lambda d, b, t: _put(d, b + 3, 0xBC, 1),
    "tc_bad_info": lambda d, b, t: _put(d, t["columns"] + 4, 0xFFFF, 2),  # ibData of column 0
    "tc_bad_row_index": lambda d, b, t: _put(d, t["row_index"] + 1, 2, 1),  # cbKey 2
    "tc_row_out_of_range": lambda d, b, t: _put(d, t["records"] + 4, 0xFFFF),
    "folder_row_duplicate": lambda d, b, t: _put(d, t["records"] + 8, _u32(d, t["records"])),
    "folder_cycle": lambda d, b, t: _put(d, t["records"], 0x122),  # the root: an ancestor
    "folder_row_node_missing": lambda d, b, t: _put(d, t["records"], 0x7FFFE2),
}


@produces(
    *(f"store-findings/heap:{code}" for code in TABLE_DAMAGE if code.startswith("tc_")),
    *(f"store-findings/messaging:{code}" for code in TABLE_DAMAGE if code.startswith("folder_")),
)
def _table_damage(tmp_path: Path, code: str) -> Produced:
    data, _ = _synth_store(tmp_path)
    block = _node_span(tmp_path, data, _hierarchy(TOP))
    return _read_store(tmp_path, TABLE_DAMAGE[code](data, block, _table(data, block))), None


def _nbt_entry(data: bytes, nid: int) -> int:
    """(leaf page offset, entry offset) of node ``nid``, walking the unicode NBT."""
    from uidl_inspector.schemas import ndb

    fmt = ndb.UNICODE
    ib, _ = _root_of(data)
    while True:
        page = fmt.BTPAGE.parse(data[ib : ib + fmt.page_size])
        size = page.cbEnt
        keys = [
            int.from_bytes(data[ib + n * size : ib + n * size + 8], "little")
            for n in range(page.cEnt)
        ]
        if page.cLevel == 0:
            return ib, ib + keys.index(nid) * size
        child = max(n for n, key in enumerate(keys) if key <= nid)
        ib = int.from_bytes(data[ib + child * size + 16 : ib + child * size + 24], "little")


def _with_nbt(data: bytes, nid: int, field: int, value: int, size: int = 8) -> bytes:
    """The store with one field of node ``nid``'s NBTENTRY changed (0 nid, 24 nidParent)."""
    page, entry = _nbt_entry(data, nid)
    return _edit_page(_put(data, entry + field, value, size), page)


def _inbox_nids(spec: Any) -> tuple[int, int, int]:
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    return inbox.nid, inbox.messages[0].nid, inbox.messages[1].nid


@produces("store-findings/messaging:folder_row_parent_mismatch")
def _row_parent_mismatch(tmp_path: Path, code: str) -> Produced:
    data, spec = _synth_store(tmp_path)
    _, message, _ = _inbox_nids(spec)
    return _read_store(tmp_path, _with_nbt(data, message, 24, TOP, 4)), None


@produces("store-findings/messaging:folder_table_missing")
def _table_missing(tmp_path: Path, code: str) -> Produced:
    data, spec = _synth_store(tmp_path)
    inbox, _, _ = _inbox_nids(spec)
    contents = (inbox & ~0x1F) | 0x0E
    return _read_store(tmp_path, _with_nbt(data, contents, 0, contents + 0x20)), None


@produces("store-findings/messaging:folder_child_unlisted")
def _child_unlisted(tmp_path: Path, code: str) -> Produced:
    data, spec = _synth_store(tmp_path)
    inbox, _, second = _inbox_nids(spec)
    block = _node_span(tmp_path, data, (inbox & ~0x1F) | 0x0E)
    records = _table(data, block)["records"]
    at = next(records + 8 * n for n in range(2) if _u32(data, records + 8 * n) == second)
    # the contents table no longer lists the second message; its node still names Inbox
    return _read_store(tmp_path, _put(data, at, 0x7FFFE4), check_parents=True), None


def _attachment_table(tmp_path: Path) -> tuple[bytes, int, int]:
    data, spec = _synth_store(tmp_path)
    _, message, _ = _inbox_nids(spec)
    return data, message, _node_span(tmp_path, data, message, sub=0x671)


@produces("store-findings/messaging:attachment_missing")
def _attachment_missing(tmp_path: Path, code: str) -> Produced:
    data, _, block = _attachment_table(tmp_path)
    return _read_store(tmp_path, _put(data, _table(data, block)["records"], 0x7FFFE5)), None


@produces("store-findings/heap:tc_bad_cell")
def _tc_bad_cell(tmp_path: Path, code: str) -> Produced:
    data, _, block = _attachment_table(tmp_path)
    table = _table(data, block)
    column = next(
        table["columns"] + 8 * n
        for n in range(table["cols"])
        if _u32(data, table["columns"] + 8 * n) == 0x3704001F
    )  # PidTagAttachFilename
    ib, bit = data[column + 4], data[column + 7]
    ceb = table["rows"] + int.from_bytes(data[table["info"] + 6 : table["info"] + 8], "little")
    data = _put(data, ceb + bit // 8, data[ceb + bit // 8] | 0x80 >> bit % 8, 1)  # present
    return _read_store(tmp_path, _put(data, table["rows"] + ib, 0xFFE0)), None  # no such HID


@produces("store-findings/messaging:embedded_missing")
def _embedded_missing(tmp_path: Path, code: str) -> Produced:
    data, spec = _synth_store(tmp_path)
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    message = inbox.messages[0]
    block = _node_span(tmp_path, data, message.nid, sub=message.attachments[1].nid)
    at = data.index(b"\x01\x37\x0d\x00", block)  # the PtypObject record of 0x3701
    return _read_store(tmp_path, data[:at] + b"\x01\x37\x02\x01" + data[at + 4 :]), None


@produces("store-findings/messaging:folder_too_deep")
def _store_folder_too_deep(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.store.model import MAX_FOLDER_DEPTH
    from uidl_inspector.synth.pst_writer import FolderSpec

    top = folder = FolderSpec("Inbox")
    for depth in range(MAX_FOLDER_DEPTH + 2):
        folder.folders.append(FolderSpec(f"f{depth}"))
        folder = folder.folders[0]
    data, _ = _synth_store(tmp_path, folders=[top])
    return _read_store(tmp_path, data), None


@produces("store-findings/messaging:embedding_too_deep")
def _store_embedding_too_deep(tmp_path: Path, code: str) -> Produced:
    from uidl_inspector.schemas.mapi import PropType as T
    from uidl_inspector.store.model import MAX_EMBED_DEPTH
    from uidl_inspector.synth.pst_writer import AttachmentSpec, FolderSpec, MessageSpec, Prop

    inbox = FolderSpec("Inbox")
    spec = MessageSpec({0x1A: Prop(T.UNICODE, "IPM.Note")})
    for _ in range(MAX_EMBED_DEPTH + 3):
        spec = MessageSpec(
            {0x1A: Prop(T.UNICODE, "IPM.Note")},
            [AttachmentSpec({0x3707: Prop(T.UNICODE, "e.msg")}, embedded=spec)],
        )
    inbox.messages.append(spec)
    data, _ = _synth_store(tmp_path, folders=[inbox])
    return _read_store(tmp_path, data), None


# ---------------------------------------------------------------- disk images (images.md)


def _image_findings(path: Path) -> list[dict]:
    from uidl_inspector.pipeline import scan_evidence
    from uidl_inspector.store.image import ImageOptions

    outcome = scan_evidence([str(path)], images=ImageOptions())
    image = outcome.report.to_dict()["sources"][0]
    assert image["kind"] == "image"
    return image.get("findings", [])


def _damaged_disk(tmp_path: Path, images: Any, *zeroed: tuple[int, int]) -> Path:
    data = bytearray(images.disk.read_bytes())
    for start, size in zeroed:
        data[start : start + size] = bytes(size)
    path = tmp_path / "damaged.raw"
    path.write_bytes(bytes(data))
    return path


@produces("images/progress:partition_without_file_system", fixtures=("images",))
def _partition_without_file_system(tmp_path: Path, code: str, images: Any) -> Produced:
    from disk_images import DISK_PARTITIONS

    start = DISK_PARTITIONS[0][0] * 512
    data = images.disk.read_bytes()
    mft = data.find(b"FILE0", start)  # the first MFT entries ($MFT itself) are gone
    return _image_findings(_damaged_disk(tmp_path, images, (mft, 16384))), start


@produces("images/progress:image_no_file_system", fixtures=("images",))
def _image_no_file_system(tmp_path: Path, code: str, images: Any) -> Produced:
    from disk_images import DISK_PARTITIONS

    boots = [(start * 512, 64 * 1024) for start, _, _ in DISK_PARTITIONS]
    return _image_findings(_damaged_disk(tmp_path, images, *boots)), None


@produces(
    "images/progress:image_file_unreadable",
    "images/progress:image_directory_unreadable",
    fixtures=("images",),
)
def _image_cut_before_its_files(tmp_path: Path, code: str, images: Any) -> Produced:
    data = images.fat.read_bytes()
    path = tmp_path / "cut.img"
    path.write_bytes(data[: data.find(b"!BDN")])  # the FAT volume ends before its first store
    return _image_findings(path), None


@produces("store-findings/heap:tc_too_many_rows", fixtures=("monkeypatch",))
def _tc_too_many_rows(tmp_path: Path, code: str, monkeypatch: Any) -> Produced:
    from uidl_inspector.store import ltp

    data, spec = _synth_store(tmp_path)
    # Top of Personal Folders' hierarchy table has a row per default folder; the bound
    # (4,194,304 rows, ~400 MB of row references to reach) is lowered below that count
    assert len(spec.folders) > 1
    monkeypatch.setattr(ltp, "MAX_ROWS", 1)
    return _read_store(tmp_path, data), None


@produces("images/progress:deleted_files_not_listed", fixtures=("images",))
def _deleted_files_not_listed(tmp_path: Path, code: str, images: Any) -> Produced:
    data = images.fat.read_bytes()
    path = tmp_path / "no-root-entries.img"
    # BPB_RootEntCnt 0 in a FAT16 boot sector: dfVFS's FAT reader still opens the volume,
    # The Sleuth Kit refuses it, so deleted files cannot be listed
    path.write_bytes(data[:17] + bytes(2) + data[19:])
    return _image_findings(path), None


@produces("recovery/how:recovery_failed")
def _recovery_failed(tmp_path: Path, code: str) -> Produced:
    """Recovery reads the store's free space after the scan; a read error there (a bad
    sector under a store read from a disk image) costs a finding, not the live results.
    The failing medium is a stream that stops reading once the store is open."""
    import io

    from conftest import REAL_PSTS
    from uidl_inspector.pipeline import _recover
    from uidl_inspector.report.model import Report
    from uidl_inspector.store.ndb import NdbFile

    class BadSectors(io.BytesIO):
        failing = False

        def read(self, size: int | None = -1) -> bytes:
            if self.failing:
                raise OSError(5, "Input/output error")
            return super().read(size)

    stream = BadSectors(REAL_PSTS[0].read_bytes())
    ndb = NdbFile("image::/store.pst", stream)
    stream.failing = True
    try:
        return _recover(ndb, "image::/store.pst", Report()), None
    finally:
        ndb.close()
