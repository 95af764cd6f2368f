"""Property values are decoded on first access: same mapping, one decode, one finding."""

from __future__ import annotations

from uidl_inspector.findings import Finding
from uidl_inspector.store.ltp import LazyProps


class _Context:
    """Stands in for a PropertyContext: three stored properties, one empty, one broken."""

    def __init__(self) -> None:
        self.types = {0x0037: 0x001F, 0x0E06: 0x0040, 0x1000: 0x001F, 0x3701: 0x0102}
        self.findings: list[Finding] = []
        self.calls: list[int] = []

    def decode(self, prop_id: int) -> object:
        self.calls.append(prop_id)
        if prop_id == 0x1000:  # an empty value (HNID 0)
            return None
        if prop_id == 0x3701:  # a value whose heap item is out of range
            self.findings.append(Finding("pc_bad_value", None, "broken"))
            return None
        return f"value-{prop_id:04x}"


def test_values_are_decoded_once_and_only_when_asked() -> None:
    pc = _Context()
    props = LazyProps(pc)
    assert pc.calls == []
    assert props[0x0037] == "value-0037"
    assert props.get(0x0037) == "value-0037"
    assert pc.calls == [0x0037]


def test_empty_broken_and_unknown_values_are_absent() -> None:
    pc = _Context()
    props = LazyProps(pc)
    assert 0x1000 not in props and props.get(0x1000) is None
    assert 0x3701 not in props and props.get(0x3701) is None
    assert 0x9999 not in props
    assert dict(props) == {0x0037: "value-0037", 0x0E06: "value-0e06"}
    assert len(props) == 2
    assert [f.code for f in pc.findings] == ["pc_bad_value"]  # recorded once, not per access
    assert sorted(pc.calls) == sorted(pc.types)  # every stored value decoded exactly once
