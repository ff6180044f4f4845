"""The dispatcher's words for why a call failed, and what a dial string needs."""

from __future__ import annotations

import pytest

from autoinformer.causes import TrunkTarget, cause_title, trunk_target
from core.settings import load_settings


@pytest.mark.parametrize(
    ("reason", "cause", "answered", "title"),
    [
        (5, None, False, "занято"),
        (0, "17", False, "занято"),
        (0, "1", False, "номер не существует"),
        (3, None, False, "абонент не ответил"),
        (3, "19", False, "абонент не ответил"),
        (8, None, False, "нет свободных линий"),
        (1, "21", False, "вызов отклонён"),
        (0, None, False, "вызов не состоялся"),
        (4, "16", True, ""),
        (None, "16", False, ""),
        (None, "garbage", False, ""),
        (4, None, False, ""),
    ],
)
def test_cause_titles(reason, cause, answered, title) -> None:
    assert cause_title(reason, cause, answered=answered) == title


@pytest.mark.parametrize(
    ("trunk", "target"),
    [
        ("PJSIP/{number}@trunk", TrunkTarget("endpoint", "trunk")),
        ("PJSIP/+{number}@carrier-1", TrunkTarget("endpoint", "carrier-1")),
        ("PJSIP/carrier/sip:{number}@10.0.0.1", TrunkTarget("endpoint", "carrier")),
        ("Local/{number}@hotline-test-network", TrunkTarget("context", "hotline-test-network")),
        ("Local/8{number}@out/n", TrunkTarget("context", "out")),
        ("DAHDI/g1/{number}", None),
    ],
)
def test_trunk_targets(trunk, target) -> None:
    assert trunk_target(trunk) == target


def test_missing_target_title_names_it() -> None:
    assert TrunkTarget("endpoint", "trunk").title() == (
        "транк не найден: PJSIP-абонент «trunk» отсутствует в Asterisk"
    )


def test_test_mode_dials_the_simulated_network_unless_told(tmp_path) -> None:
    """The demo (test mode) works out of the box; production dials the carrier."""
    base = {"data_dir": tmp_path, "asterisk_mode": "sandbox"}
    demo = load_settings(overrides={**base, "test_mode": True}, environ={})
    assert demo.outbound_trunk == "Local/{number}@hotline-test-network"
    prod = load_settings(overrides=base, environ={})
    assert prod.outbound_trunk == "PJSIP/{number}@trunk"
    told = load_settings(
        overrides={**base, "test_mode": True},
        environ={"HOTLINE_OUTBOUND_TRUNK": "PJSIP/{number}@carrier"},
    )
    assert told.outbound_trunk == "PJSIP/{number}@carrier"
