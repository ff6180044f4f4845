"""The invented demo set: deterministic, and the documented constants hold
(the IVR demo and the tests rely on them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_bridge import demo_data as demo
from crm_bridge.db import Database
from crm_bridge.identify import Identifier
from crm_bridge.models import Account, AccountPhone, Meter, Operator
from crm_bridge.passwords import verify_password
from crm_bridge.phones import normalize_phone
from hotline.slices import upgrade


@pytest.fixture
def demo_db(db: Database) -> Database:
    demo.load_demo(db)
    return db


def test_demo_set_size_and_idempotence(demo_db: Database) -> None:
    demo.load_demo(demo_db)
    with demo_db.session() as session:
        assert (
            session.execute(select(func.count()).select_from(Account)).scalar_one()
            == demo.DEMO_SIZE
        )
        assert (
            session.execute(select(func.count()).select_from(Meter)).scalar_one() == demo.DEMO_SIZE
        )
        assert session.execute(select(func.count()).select_from(Operator)).scalar_one() == len(
            demo.DEMO_OPERATORS
        )


def test_demo_caller_constants(demo_db: Database) -> None:
    ident = Identifier(demo_db)
    by_phone = ident.by_phone(demo.DEMO_CALLER_PHONE)
    by_number = ident.by_account(demo.DEMO_ACCOUNT_NUMBER)
    by_address = ident.by_address(demo.DEMO_ADDRESS)
    assert by_phone.account_id == by_number.account_id == by_address.account_id is not None
    card = ident.card(by_number)
    assert card.debt == demo.DEMO_DEBT
    assert card.holder_name == demo.DEMO_CALLER.holder_name
    assert len(card.meters) == 1 and card.meters[0].zones == 2


def test_other_demo_constants(demo_db: Database) -> None:
    ident = Identifier(demo_db)
    assert ident.by_phone(demo.DEMO_SHARED_PHONE).ambiguous
    assert ident.by_phone(demo.DEMO_UNKNOWN_PHONE).account_id is None
    assert ident.by_address(demo.DEMO_HOUSE_ADDRESS).ambiguous
    zeros = ident.by_account("12345")
    assert ident.card(zeros).number == demo.DEMO_LEADING_ZEROS.number
    legal = ident.card(ident.by_account(demo.DEMO_LEGAL_ENTITY.number))
    assert (legal.category.value, legal.timezone) == ("ЮЛ", "Asia/Krasnoyarsk")
    assert ident.card(ident.by_account(demo.DEMO_NO_DEBT.number)).debt == 0
    for account in demo.DEMO_ACCOUNTS:
        found = ident.by_address(account.address)
        assert found.account_id == ident.by_account(account.number).account_id, account.address


def test_demo_operators_can_log_in(demo_db: Database) -> None:
    with demo_db.session() as session:
        for op in demo.DEMO_OPERATORS:
            row = session.execute(select(Operator).where(Operator.login == op.login)).scalar_one()
            assert verify_password(op.password, row.password_hash)
            assert not verify_password("wrong", row.password_hash)
            assert row.interface == op.interface


def test_generated_phones_are_valid_and_towns_invented(demo_db: Database) -> None:
    with demo_db.session() as session:
        phones = session.execute(select(AccountPhone.phone)).scalars().all()
        towns = set(session.execute(select(Account.settlement)).scalars())
    assert phones
    for phone in phones:
        assert normalize_phone(phone) == phone
    allowed = {name for name, _ in demo._TOWNS} | {f"г. {demo.DEMO_TOWN}"}
    assert towns <= allowed


def _snapshot(db: Database) -> list[tuple[object, ...]]:
    with db.session() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(
                    Account.number, Account.holder_name, Account.address_key, Account.debt
                ).order_by(Account.number)
            ).all()
        ]


def test_generation_is_deterministic(tmp_path: Path) -> None:
    snapshots = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        db = Database(f"sqlite:///{tmp_path / name}.db")
        upgrade(db)
        assert demo.generate(db, 500, seed) == 500
        assert demo.generated_count(db) == 500
        snapshots.append(_snapshot(db))
        db.dispose()
    assert snapshots[0] == snapshots[1]
    assert snapshots[0] != snapshots[2]
    keys = [s[2] for s in snapshots[0]]
    assert len(set(keys)) == len(keys)  # every generated address is unique


def test_generate_on_both_dialects_and_lookups(db: Database) -> None:
    seen: list[tuple[int, int]] = []
    assert (
        demo.generate(db, 3000, 11, batch=1000, progress=lambda d, t: seen.append((d, t))) == 3000
    )
    assert seen[-1] == (3000, 3000)
    ident = Identifier(db)
    with db.session() as session:
        number, key = session.execute(
            select(Account.number, Account.address_key).where(Account.flat.is_not(None)).limit(1)
        ).one()
    assert ident.by_account(number).identified
    # rows written by COPY / executemany are ordinary rows: ORM inserts continue the ids
    demo.load_demo(db)
    assert ident.by_account(demo.DEMO_ACCOUNT_NUMBER).identified
    assert key


def _network_behaviour(number: str) -> str:
    """The first application the simulated network runs for ``number``
    (dialplans/test-network.conf: the most specific ``_7XXXXXXXXNN`` pattern)."""
    text = (Path(__file__).parents[2] / "dialplans" / "test-network.conf").read_text()
    section = text.split("[hotline-test-network]", 1)[1].split("\n[", 1)[0]
    digits = number.lstrip("+")
    for line in section.splitlines():
        if line.startswith("exten => _7XXXXXXXX") and digits.endswith(line[19:21]):
            return line.split(",", 2)[2]
    return "Answer()"


def test_the_demo_customers_whose_line_fails_match_the_simulated_network() -> None:
    """The demo's campaigns show a busy number and a number that does not
    exist: the numbers of those customers are the network's busy and
    unallocated ones (and the demo caller's line answers)."""
    assert _network_behaviour(demo.DEMO_BUSY.phone or "") == "Busy(3)"
    assert _network_behaviour(demo.DEMO_NO_SUCH_NUMBER.phone or "") == "Hangup(1)"
    assert _network_behaviour(demo.DEMO_CALLER.phone or "") == "Answer()"
    assert demo.DEMO_BUSY in demo.DEMO_ACCOUNTS and demo.DEMO_NO_SUCH_NUMBER in demo.DEMO_ACCOUNTS
