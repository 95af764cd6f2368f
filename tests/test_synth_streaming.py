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
