"""Issue 12 point 5: the writer makes store-message properties and truth rows on demand."""

from __future__ import annotations

import json

from uidl_inspector.synth.scenarios import InboxSpec, scenario, store_spec
from uidl_inspector.synth.truth import RowsOnDemand, truth_bytes, write_evidence


def test_truth_rows_are_made_on_demand_and_written_as_a_list(tmp_path):
    sc = scenario("large", messages=300)
    ev = write_evidence(tmp_path, sc)
    rows = ev.document["messages"]
    assert isinstance(rows, RowsOnDemand) and list.__len__(rows) == 0  # nothing held
    plain = {**ev.document, "messages": list(rows)}
    assert len(rows) == 300 and rows == plain["messages"] and rows[-1] == plain["messages"][-1]
    assert truth_bytes(ev.document) == truth_bytes(plain)
    assert json.loads(ev.truth_file.read_text(encoding="utf-8")) == json.loads(truth_bytes(plain))


def test_message_specs_keep_no_properties():
    built = store_spec(scenario("large", messages=50))
    specs = [spec for _f, _m, spec in built.messages]
    assert all(isinstance(s, InboxSpec) and "props" not in vars(s) for s in specs)
    first, second = specs[0].props, specs[1].props
    assert specs[1].props is second  # the writer asks several times: the last is kept
    assert specs[0].props == first and specs[0].props is not first  # others are made again
    assert specs[0].recipients[0][0x3003].value == built.messages[0][1].account.smtp


def test_history_entries_and_links_are_made_on_demand_with_the_same_bytes(tmp_path):
    ev = write_evidence(tmp_path, scenario("large", messages=400))
    doc = ev.document
    entries, links = doc["histories"][0]["entries"], doc["expected"]["links"]
    for rows in (entries, links):
        assert isinstance(rows, RowsOnDemand) and list.__len__(rows) == 0  # nothing held
    assert len(entries) == doc["histories"][0]["blob"]["parsed_count"] > 0
    assert len(links) == len(list(links)) > 0
    plain = json.loads(truth_bytes(doc))  # every row made, as plain lists
    assert plain["histories"][0]["entries"] == list(entries) and entries == list(entries)
    assert truth_bytes(plain) == truth_bytes(doc) == ev.truth_file.read_bytes()


def test_the_large_story_has_nothing_to_prune(monkeypatch):
    """Its server loses messages only by expire(), which drops their tags itself: the
    quadratic pruning pass it skips would change nothing."""
    from uidl_inspector.synth import scenarios

    monkeypatch.setattr(scenarios, "LARGE_SERVER_KEEP", 200)  # expire() at work
    quick = scenario("large", messages=3000, seed=3)
    assert len(quick.managers[0].histories[0].tags) <= 200 < len(quick.messages)
    sync = scenarios._Mailbox.sync
    monkeypatch.setattr(
        scenarios._Mailbox, "sync", lambda box, **kw: sync(box, **{**kw, "prune": True})
    )
    pruned = scenario("large", messages=3000, seed=3)
    assert pruned.managers == quick.managers and pruned.messages == quick.messages
    assert pruned.server_uidl == quick.server_uidl
