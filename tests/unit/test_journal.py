"""The call journal hub: a later AGI route on the same channel continues the
call's numbering, so the stored events keep every route's entries."""

from __future__ import annotations

from telephony.journal import JournalHub


def test_second_route_on_a_channel_continues_the_numbering() -> None:
    hub = JournalHub()
    first = hub.open("c1", "inbound")
    first.add("start", route="inbound")
    first.add("prompt", id="common/recording_warning")
    first.add("end", outcome="completed")
    second = hub.open("c1", "meter-readings")
    second.add("start", route="meter-readings")
    assert hub.get("c1") is second
    assert [e.seq for e in first.entries] == [1, 2, 3]
    assert [e.seq for e in second.entries] == [4]
    third = hub.open("c1", "inbound")
    assert third.add("start").seq == 5


def test_other_channels_number_from_one() -> None:
    hub = JournalHub()
    hub.open("a", "inbound").add("start")
    assert hub.open("b", "inbound").add("start").seq == 1


def test_hub_is_bounded() -> None:
    hub = JournalHub(keep=3)
    for i in range(5):
        hub.open(f"c{i}", "inbound")
    assert hub.get("c0") is None and hub.get("c1") is None
    assert hub.get("c4") is not None
