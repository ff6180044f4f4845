"""Caller identification and the confidentiality gate (REQ-T9, REQ-T13, REQ-T15)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from crm_bridge.accounts import AccountData, upsert_accounts
from crm_bridge.db import Database
from crm_bridge.errors import NotIdentified
from crm_bridge.identify import (
    TAIL_DIGITS,
    AccountCard,
    Identification,
    Identifier,
    IdentMethod,
    by_phone_and_tail,
)
from crm_bridge.models import TariffZone


def test_by_phone_single_account(identifier: Identifier, town: dict[str, int]) -> None:
    ident = identifier.by_phone("89001234567")
    assert ident.method is IdentMethod.PHONE
    assert ident.account_id == town["0012345678"]
    assert ident.confidence == pytest.approx(0.7)
    assert ident.identified


@pytest.mark.parametrize("raw", ["+7 (900) 123-45-67", "79001234567", "9001234567"])
def test_by_phone_any_format(identifier: Identifier, town: dict[str, int], raw: str) -> None:
    assert identifier.by_phone(raw).account_id == town["0012345678"]


def test_by_phone_shared_gives_candidates_not_a_guess(
    identifier: Identifier, town: dict[str, int]
) -> None:
    ident = identifier.by_phone("+79001112233")
    assert ident.account_id is None
    assert ident.ambiguous
    assert {c.account_id for c in ident.candidates} == {town["0012345679"], town["0012345680"]}
    assert 0 < ident.confidence < 0.7


@pytest.mark.parametrize("raw", ["", "anonymous", "12345", "+79990000000"])
def test_by_phone_unknown_or_invalid(
    identifier: Identifier, town: dict[str, int], raw: str
) -> None:
    ident = identifier.by_phone(raw)
    assert ident.account_id is None
    assert ident.confidence == 0
    assert ident.reason


@pytest.mark.parametrize(
    "typed", ["0012345678", "12345678", "12345678#", "0012 345 678", "*0012345678"]
)
def test_by_account_keypad_forms(identifier: Identifier, town: dict[str, int], typed: str) -> None:
    ident = identifier.by_account(typed)
    assert ident.method is IdentMethod.ACCOUNT
    assert ident.account_id == town["0012345678"]
    assert ident.confidence == 1.0
    assert ident.allows_confidential


@pytest.mark.parametrize("typed", ["99999999", "abc", "", None])
def test_by_account_unknown(
    identifier: Identifier, town: dict[str, int], typed: str | None
) -> None:
    ident = identifier.by_account(typed)
    assert ident.account_id is None
    assert not ident.allows_confidential


@pytest.mark.parametrize(
    "said",
    [
        "г. Демоград, ул. Ленина д 5 кв 12",
        "Демоград, Ленина 5-12",
        "город Демоград, улица Ленина, дом 5, квартира 12",
    ],
)
def test_by_address_exact(identifier: Identifier, town: dict[str, int], said: str) -> None:
    ident = identifier.by_address(said)
    assert ident.method is IdentMethod.ADDRESS
    assert ident.account_id == town["0012345678"]
    assert ident.confidence == pytest.approx(0.9)
    assert ident.allows_confidential


def test_by_address_same_street_in_two_towns_is_ambiguous(
    identifier: Identifier, town: dict[str, int]
) -> None:
    ident = identifier.by_address("ул. Ленина д 5 кв 12")
    assert ident.account_id is None
    assert {c.account_id for c in ident.candidates} == {town["0012345678"], town["0012345681"]}
    assert not ident.allows_confidential


def test_by_address_without_flat_lists_the_house(
    identifier: Identifier, town: dict[str, int]
) -> None:
    ident = identifier.by_address("г. Демоград, ул. Ленина, д. 5")
    assert ident.account_id is None
    assert len(ident.candidates) == 3
    assert ident.reason and "квартира" in ident.reason


def test_by_address_private_house(identifier: Identifier, town: dict[str, int]) -> None:
    ident = identifier.by_address("пос. Южный, пер. Почтовый, д. 3 а")
    assert ident.account_id == town["555"]
    assert identifier.by_address("Почтовый 3а").account_id == town["555"]


def test_by_address_legal_entity_office(identifier: Identifier, town: dict[str, int]) -> None:
    assert identifier.by_address("проспект Мира 10 корпус 2 офис 15").account_id == town["777000"]


def test_by_address_street_type_must_agree(identifier: Identifier, town: dict[str, int]) -> None:
    assert identifier.by_address("г. Демоград, пр-т Ленина 5-12").account_id is None


@pytest.mark.parametrize("said", ["Ленина", "Ленина 9-9", "Демоград", ""])
def test_by_address_not_found_or_incomplete(
    identifier: Identifier, town: dict[str, int], said: str
) -> None:
    ident = identifier.by_address(said)
    assert ident.account_id is None
    assert not ident.candidates


def test_card_by_account_shows_debt_and_meters(
    identifier: Identifier, town: dict[str, int]
) -> None:
    """REQ-T9: the caller named the account number → debt and readings."""
    card = identifier.card(identifier.by_account("12345678"))
    assert card.number == "0012345678"
    assert card.debt == Decimal("1543.20")
    assert card.phones == ("+79001234567",)
    assert card.address == "г. Демоград, ул. Ленина, д. 5, кв. 12"
    (meter,) = card.meters
    assert meter.serial == "SN-0001"
    assert dict(meter.last_values) == {
        TariffZone.T1: Decimal("12345"),
        TariffZone.T2: Decimal("6789"),
    }


def test_card_by_address(identifier: Identifier, town: dict[str, int]) -> None:
    card = AccountCard.for_identified(identifier.db, identifier.by_address("Демоград Ленина 5-12"))
    assert card.account_id == town["0012345678"]


def test_calling_number_alone_never_unlocks_confidential_data(
    identifier: Identifier, town: dict[str, int]
) -> None:
    """REQ-T9/T13: a phone may belong to someone else; it is not something the caller named."""
    ident = identifier.by_phone("89001234567")
    assert ident.identified
    assert not ident.allows_confidential
    with pytest.raises(NotIdentified):
        identifier.card(ident)


@pytest.mark.parametrize(
    "ident",
    [
        Identification.none(IdentMethod.NONE, "nobody"),
        Identification.none(IdentMethod.ACCOUNT, "not found"),
    ],
)
def test_unidentified_raises(
    identifier: Identifier, town: dict[str, int], ident: Identification
) -> None:
    with pytest.raises(NotIdentified):
        identifier.card(ident)


def test_ambiguous_address_raises(identifier: Identifier, town: dict[str, int]) -> None:
    with pytest.raises(NotIdentified):
        identifier.card(identifier.by_address("Ленина 5"))


def test_forged_identification_is_refused(
    db: Database, identifier: Identifier, town: dict[str, int]
) -> None:
    """An Identification built by hand for another account does not pass the gate."""
    real = identifier.by_account("12345678")
    forged = replace(real, account_id=town["0012345679"])
    with pytest.raises(NotIdentified):
        AccountCard.for_identified(db, forged)
    hand_made = Identification(
        account_id=town["0012345679"], confidence=1.0, method=IdentMethod.ACCOUNT, evidence="1"
    )
    with pytest.raises(NotIdentified):
        AccountCard.for_identified(db, hand_made)


# -- the calling number proven by the account's last digits (REQ-T9, T13) -----------------


def test_phone_and_tail_unlocks_the_card(identifier: Identifier, town: dict[str, int]) -> None:
    """The number on file suggests the account; its last four digits prove it."""
    on_phone = identifier.by_phone("89001234567")
    ident = by_phone_and_tail(on_phone, "+7 900 123-45-67", "5678")
    assert ident.method is IdentMethod.PHONE_TAIL
    assert ident.account_id == town["0012345678"] and ident.allows_confidential
    assert ident.confidence == pytest.approx(0.95)
    card = identifier.card(ident)
    assert card.account_id == town["0012345678"] and card.identified_by is IdentMethod.PHONE_TAIL


@pytest.mark.parametrize("tail", ["5679", "0000", "678", "45678", "56a8", ""])
def test_phone_and_wrong_tail_gives_nothing(
    identifier: Identifier, town: dict[str, int], tail: str
) -> None:
    ident = by_phone_and_tail(identifier.by_phone("89001234567"), "89001234567", tail)
    assert ident.account_id is None and not ident.candidates
    assert not ident.allows_confidential and ident.reason


def test_shared_phone_tail_picks_the_account(identifier: Identifier, town: dict[str, int]) -> None:
    """Several accounts on the number: the digits say which one is the caller's."""
    on_phone = identifier.by_phone("+79001112233")
    assert on_phone.ambiguous
    for number in ("0012345679", "0012345680"):
        ident = by_phone_and_tail(on_phone, "+79001112233", number[-TAIL_DIGITS:])
        assert ident.account_id == town[number]
        assert identifier.card(ident).account_id == town[number]


def test_shared_phone_same_tail_gives_candidates(db: Database, identifier: Identifier) -> None:
    """Two accounts of one number ending with the same digits: no guess."""
    phone = ("+79005550011",)
    with db.session(write=True) as session:
        ids = upsert_accounts(
            session,
            [
                AccountData(
                    "3000004321", "Первый", address="г. Демоград, ул. Мира, д. 1", phones=phone
                ),
                AccountData(
                    "4000004321", "Второй", address="г. Демоград, ул. Мира, д. 2", phones=phone
                ),
            ],
        ).ids
    ident = by_phone_and_tail(identifier.by_phone("+79005550011"), "+79005550011", "4321")
    assert ident.account_id is None and ident.ambiguous
    assert {c.account_id for c in ident.candidates} == set(ids.values())
    assert not ident.allows_confidential


def test_unknown_phone_and_any_tail_gives_nothing(
    identifier: Identifier, town: dict[str, int]
) -> None:
    on_phone = identifier.by_phone("+79990000000")
    assert by_phone_and_tail(on_phone, "+79990000000", "5678").account_id is None
    # Nor does the identification of another way pretend to be the phone's.
    by_number = identifier.by_account("0012345678")
    assert by_phone_and_tail(by_number, "89001234567", "5678").account_id is None


def test_forged_tail_identification_is_refused(
    db: Database, identifier: Identifier, town: dict[str, int]
) -> None:
    """The card re-checks the digits and the phone against the account."""
    real = by_phone_and_tail(identifier.by_phone("89001234567"), "89001234567", "5678")
    assert identifier.card(real).account_id == town["0012345678"]
    for evidence in ("+79001234567|0000", "+79001112233|5678", "+79001234567|", "5678"):
        forged = replace(real, evidence=evidence)
        with pytest.raises(NotIdentified):
            AccountCard.for_identified(db, forged)
    other = replace(real, account_id=town["0012345679"], evidence="+79001234567|5679")
    with pytest.raises(NotIdentified):
        AccountCard.for_identified(db, other)


def test_wrong_tail_proofs_are_counted_from_the_stored_journals(db: Database) -> None:
    """The identity gate's memory across calls (ivr.identity): wrong
    last-digit proofs of the calling number, as its calls' journals hold
    them — on SQLite and PostgreSQL (a JSON query)."""
    from datetime import timedelta

    from crm_bridge.calls import CallService
    from crm_bridge.db import utcnow
    from ivr.identity import wrong_tail_proofs
    from telephony.journal import CallJournal

    calls = CallService(db)
    for uid, phone, results in (
        ("gate.1", "89001234567", ["wrong", "wrong", "wrong"]),
        ("gate.2", "+7 900 123-45-67", ["wrong", "passed"]),
        ("gate.3", "+79001112233", ["wrong"]),  # another number
    ):
        calls.upsert(uid, caller_number=phone, direction="in")
        journal = CallJournal(uid, "inbound")
        for n, result in enumerate(results, start=1):
            journal.add("step", name="ident-gate", attempt=n, way="tail", result=result)
        journal.add("step", name="ident-gate", attempt=9, way="account", result="wrong")
        journal.add("step", name="debt")
        calls.append_events(uid, journal.entries)
    since = utcnow() - timedelta(hours=1)
    assert wrong_tail_proofs(db, "+79001234567", since=since) == 4
    assert wrong_tail_proofs(db, "79001112233", since=since) == 1
    assert wrong_tail_proofs(db, "+79990000000", since=since) == 0
    assert wrong_tail_proofs(db, None, since=since) == 0
    assert wrong_tail_proofs(db, "+79001234567", since=utcnow() + timedelta(minutes=1)) == 0
