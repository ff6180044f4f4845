"""Invented customers for the demo, the tests and the benchmark.

Nothing here is real: the towns (Демоград, Тестовск, …) do not exist, the
surnames are put together from invented syllables, and the data is made by a
seeded :class:`random.Random`, so the same seed always gives the same rows.

Two entry points:

* :func:`load_demo` — the named demo set (:data:`DEMO_SIZE` accounts): the
  fixed accounts below, which the demo script and the tests call by number or
  phone, plus generated neighbours. Idempotent: loading twice changes nothing.
* :func:`generate` — any number of accounts (1 000 000 for the benchmark), in
  bulk: Core ``executemany`` on SQLite, ``COPY`` on PostgreSQL, one
  transaction, with a marker row so a half-built database is never mistaken
  for a complete one (:func:`generated_count`).

The fixed demo accounts (all in the invented town of Демоград, which
:func:`generate` never uses, so their addresses stay unique):

==========================  ============  ================  ========================================
constant                    account       phone             what it shows
==========================  ============  ================  ========================================
``DEMO_CALLER``             1000000001    +79001234567      debt 1 543,20 ₽, two-zone meter
``DEMO_NO_DEBT``            1000000002    +79001234568      no debt, one-zone meter
``DEMO_SHARED_A/B``         1000000003/4  +79001112233      one phone on two accounts (ambiguous)
``DEMO_LEGAL_ENTITY``       1000000005    +73912123456      ЮЛ, Krasnoyarsk time, debt 125 000 ₽
``DEMO_PRIVATE_HOUSE``      1000000006    +79005556677      private house (no flat), 3-zone meter
``DEMO_LEADING_ZEROS``      0000012345    +79001234570      keypad «12345» finds it
``DEMO_BUSY``               1000000008    +79001234503      the simulated network answers «busy»
``DEMO_NO_SUCH_NUMBER``     1000000009    +79001234508      the simulated network: no such number
==========================  ============  ================  ========================================

``DEMO_UNKNOWN_PHONE`` is on no account; ``DEMO_HOUSE_ADDRESS`` (Ленина 5
without a flat) matches several accounts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select, text, update

from crm_bridge.accounts import AccountData, MeterData, upsert_accounts, upsert_meters
from crm_bridge.address import ParsedAddress, from_parts
from crm_bridge.db import Database, utcnow
from crm_bridge.identify import account_number_key
from crm_bridge.models import (
    Account,
    AccountPhone,
    Category,
    Counter,
    Meter,
    Operator,
    OperatorRole,
    Reading,
    ReadingSource,
    ReadingStatus,
    TariffZone,
)
from crm_bridge.passwords import hash_password

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_ACCOUNT_NUMBER",
    "DEMO_ADDRESS",
    "DEMO_BUSY",
    "DEMO_CALLER",
    "DEMO_CALLER_PHONE",
    "DEMO_DEBT",
    "DEMO_HOUSE_ADDRESS",
    "DEMO_LEADING_ZEROS",
    "DEMO_LEGAL_ENTITY",
    "DEMO_NO_DEBT",
    "DEMO_NO_SUCH_NUMBER",
    "DEMO_OPERATORS",
    "DEMO_PRIVATE_HOUSE",
    "DEMO_SEED",
    "DEMO_SHARED_A",
    "DEMO_SHARED_B",
    "DEMO_SHARED_PHONE",
    "DEMO_SIZE",
    "DEMO_TOWN",
    "DEMO_UNKNOWN_PHONE",
    "DemoAccount",
    "DemoOperator",
    "generate",
    "generated_count",
    "load_demo",
]

logger = logging.getLogger(__name__)

DEMO_SEED: Final = 20250301
DEMO_SIZE: Final = 200
DEMO_TOWN: Final = "Демоград"
_GENERATED_MARKER: Final = "demo_generated"
_DEMO_MARKER: Final = "demo_loaded"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    number: str
    phone: str | None
    holder_name: str
    settlement: str
    street_type: str
    street: str
    house: str
    flat: str | None
    debt: Decimal
    category: Category = Category.FL
    timezone: str = "Europe/Moscow"
    meter_serial: str | None = None
    meter_zones: int = 1
    building: str | None = None

    @property
    def address(self) -> str:
        """How a caller would say it."""
        parts = [f"г. {self.settlement}" if self.settlement == DEMO_TOWN else self.settlement]
        parts.append(f"{self.street_type} {self.street}")
        parts.append(f"д. {self.house}")
        if self.building:
            parts.append(f"корп. {self.building}")
        if self.flat:
            parts.append(f"кв. {self.flat}")
        return ", ".join(parts)

    def data(self) -> AccountData:
        return AccountData(
            number=self.number,
            holder_name=self.holder_name,
            category=self.category,
            settlement=self.settlement if self.settlement != DEMO_TOWN else f"г. {DEMO_TOWN}",
            street_type=self.street_type,
            street=self.street,
            house=self.house,
            building=self.building,
            flat=self.flat,
            phones=(self.phone,) if self.phone else (),
            debt=self.debt,
            debt_as_of=date(2025, 3, 1),
            timezone=self.timezone,
        )


DEMO_CALLER: Final = DemoAccount(
    number="1000000001",
    phone="+79001234567",
    holder_name="Демонстрационный Иван Петрович",
    settlement=DEMO_TOWN,
    street_type="ул.",
    street="Ленина",
    house="5",
    flat="12",
    debt=Decimal("1543.20"),
    meter_serial="DEMO-0001",
    meter_zones=2,
)
DEMO_NO_DEBT: Final = DemoAccount(
    number="1000000002",
    phone="+79001234568",
    holder_name="Образцова Мария Олеговна",
    settlement=DEMO_TOWN,
    street_type="ул.",
    street="Ленина",
    house="5",
    flat="13",
    debt=Decimal("0.00"),
    meter_serial="DEMO-0002",
)
DEMO_SHARED_PHONE: Final = "+79001112233"
DEMO_SHARED_A: Final = DemoAccount(
    number="1000000003",
    phone=DEMO_SHARED_PHONE,
    holder_name="Примеров Олег Иванович",
    settlement=DEMO_TOWN,
    street_type="ул.",
    street="Ленина",
    house="5",
    flat="14",
    debt=Decimal("250.00"),
    meter_serial="DEMO-0003",
)
DEMO_SHARED_B: Final = DemoAccount(
    number="1000000004",
    phone=DEMO_SHARED_PHONE,
    holder_name="Примерова Анна Сергеевна",
    settlement=DEMO_TOWN,
    street_type="ул.",
    street="Ленина",
    house="5",
    flat="15",
    debt=Decimal("0.00"),
    meter_serial="DEMO-0004",
)
DEMO_LEGAL_ENTITY: Final = DemoAccount(
    number="1000000005",
    phone="+73912123456",
    holder_name="ООО «Демо-Энерго»",
    settlement=DEMO_TOWN,
    street_type="пр-т",
    street="Мира",
    house="10",
    building="2",
    flat="15",
    debt=Decimal("125000.00"),
    category=Category.UL,
    timezone="Asia/Krasnoyarsk",
    meter_serial="DEMO-0005",
    meter_zones=3,
)
DEMO_PRIVATE_HOUSE: Final = DemoAccount(
    number="1000000006",
    phone="+79005556677",
    holder_name="Частников Пётр Ильич",
    settlement=DEMO_TOWN,
    street_type="пер.",
    street="Почтовый",
    house="3А",
    flat=None,
    debt=Decimal("312.45"),
    timezone="Asia/Krasnoyarsk",
    meter_serial="DEMO-0006",
    meter_zones=3,
)
DEMO_LEADING_ZEROS: Final = DemoAccount(
    number="0000012345",
    phone="+79001234570",
    holder_name="Нулёв Семён Семёнович",
    settlement=DEMO_TOWN,
    street_type="ул.",
    street="Садовая",
    house="1",
    flat="1",
    debt=Decimal("99.90"),
    meter_serial="DEMO-0007",
)
# The autoinformer's callees whose simulated line fails: the last two digits
# of the number decide how the simulated network answers
# (dialplans/test-network.conf: 03 busy, 08 no such number).
DEMO_BUSY: Final = DemoAccount(
    number="1000000008",
    phone="+79001234503",
    holder_name="Занятов Борис Борисович",
    settlement=DEMO_TOWN,
    street_type="ул.",
    street="Гагарина",
    house="7",
    flat="3",
    debt=Decimal("2150.00"),
    meter_serial="DEMO-0008",
)
DEMO_NO_SUCH_NUMBER: Final = DemoAccount(
    number="1000000009",
    phone="+79001234508",
    holder_name="Безномерова Вера Павловна",
    settlement=DEMO_TOWN,
    street_type="ул.",
    street="Гагарина",
    house="7",
    flat="8",
    debt=Decimal("870.30"),
    meter_serial="DEMO-0009",
)
DEMO_ACCOUNTS: Final = (
    DEMO_CALLER,
    DEMO_NO_DEBT,
    DEMO_SHARED_A,
    DEMO_SHARED_B,
    DEMO_LEGAL_ENTITY,
    DEMO_PRIVATE_HOUSE,
    DEMO_LEADING_ZEROS,
    DEMO_BUSY,
    DEMO_NO_SUCH_NUMBER,
)

DEMO_CALLER_PHONE: Final = DEMO_CALLER.phone
DEMO_ACCOUNT_NUMBER: Final = DEMO_CALLER.number
DEMO_DEBT: Final = DEMO_CALLER.debt
DEMO_ADDRESS: Final = DEMO_CALLER.address
DEMO_HOUSE_ADDRESS: Final = f"г. {DEMO_TOWN}, ул. Ленина, д. 5"
DEMO_UNKNOWN_PHONE: Final = "+79009999999"


@dataclass(frozen=True, slots=True)
class DemoOperator:
    login: str
    password: str
    name: str
    role: OperatorRole
    endpoint: str | None

    @property
    def interface(self) -> str | None:
        return f"PJSIP/{self.endpoint}" if self.endpoint else None


DEMO_OPERATORS: Final = (
    DemoOperator("operator1", "demo-operator1", "Оператор Первый", OperatorRole.OPERATOR, "op101"),
    DemoOperator("operator2", "demo-operator2", "Оператор Второй", OperatorRole.OPERATOR, "op102"),
    DemoOperator(
        "supervisor", "demo-supervisor", "Старший Смены", OperatorRole.SUPERVISOR, "op199"
    ),
    DemoOperator(
        "dispatcher", "demo-dispatcher", "Диспетчер Демонстрационный", OperatorRole.DISPATCHER, None
    ),
)
"""Demo logins (demo passwords: never use them outside the sandbox)."""


# -- invented vocabulary ---------------------------------------------------------

_TOWNS: Final = (
    ("Тестовск", "Europe/Moscow"),
    ("Примерово", "Europe/Samara"),
    ("Образцовск", "Asia/Yekaterinburg"),
    ("Макетное", "Asia/Omsk"),
    ("Учебноград", "Asia/Krasnoyarsk"),
    ("Пробный", "Asia/Irkutsk"),
    ("Черновец", "Asia/Vladivostok"),
    ("Эталонск", "Europe/Kaliningrad"),
)
_STREETS: Final = (
    ("ул.", "Садовая"),
    ("ул.", "Школьная"),
    ("ул.", "Лесная"),
    ("ул.", "Молодёжная"),
    ("ул.", "Центральная"),
    ("ул.", "Новая"),
    ("ул.", "Полевая"),
    ("ул.", "Луговая"),
    ("ул.", "Заречная"),
    ("ул.", "Солнечная"),
    ("ул.", "Берёзовая"),
    ("ул.", "Рябиновая"),
    ("ул.", "Кленовая"),
    ("ул.", "Сосновая"),
    ("ул.", "Звёздная"),
    ("ул.", "Ясная"),
    ("ул.", "Тихая"),
    ("ул.", "Светлая"),
    ("ул.", "Весенняя"),
    ("ул.", "Осенняя"),
    ("ул.", "Строителей"),
    ("ул.", "Энергетиков"),
    ("ул.", "Связистов"),
    ("ул.", "Геологов"),
    ("ул.", "Монтажников"),
    ("ул.", "Ленина"),
    ("ул.", "Мира"),
    ("ул.", "Победы"),
    ("ул.", "8 Марта"),
    ("ул.", "60 лет Октября"),
    ("ул.", "2-я Кирпичная"),
    ("ул.", "Нижне-Садовая"),
    ("пр-т", "Мира"),
    ("пр-т", "Энергетиков"),
    ("пр-т", "Комсомольский"),
    ("пер.", "Почтовый"),
    ("пер.", "Тупиковый"),
    ("пер.", "Аптечный"),
    ("б-р", "Липовый"),
    ("б-р", "Каштановый"),
    ("наб.", "Речная"),
    ("наб.", "Озёрная"),
    ("ш.", "Северное"),
    ("ш.", "Промышленное"),
    ("пл.", "Вокзальная"),
    ("мкр", "Солнечный"),
    ("мкр", "Северный"),
    ("пр-д", "Складской"),
)
_SYLLABLES_A: Final = (
    "Бор", "Вер", "Гал", "Дор", "Жур", "Зар", "Кал", "Лад", "Мир", "Нор",
    "Пав", "Рад", "Сав", "Тар", "Удал", "Фед", "Хол", "Цвет", "Чар", "Шир",
)  # fmt: skip
_SYLLABLES_B: Final = (
    "ем", "ин", "ол", "ан", "ер", "ун", "ав", "иш", "ек", "ом", "уш", "ят", "ес", "ор", "ил",
)  # fmt: skip
_SUFFIXES: Final = (("ов", "ова"), ("ев", "ева"), ("ин", "ина"), ("ский", "ская"), ("ых", "ых"))
_MALE: Final = ("Иван", "Пётр", "Олег", "Сергей", "Андрей", "Николай", "Павел", "Юрий", "Артём")
_FEMALE: Final = ("Анна", "Мария", "Ольга", "Елена", "Наталья", "Ирина", "Светлана", "Дарья")
_PATRONYMS: Final = ("Иванов", "Петров", "Олегов", "Сергеев", "Андреев", "Николаев", "Павлов")
_COMPANY: Final = ("Ромашка-Демо", "Светоч", "Тестстрой", "Пример-Сервис", "Макет-Торг", "Эталон")
_MOBILE_CODES: Final = (
    "901", "902", "903", "904", "905", "906", "908", "909", "910", "911", "912", "913", "914",
    "915", "916", "917", "918", "919", "920", "921", "922", "923", "924", "925", "926", "927",
    "928", "929", "950", "951", "952", "953", "960", "961", "962", "963", "964", "965", "980",
    "981", "982", "983", "984", "985", "986", "987", "988", "989",
)  # fmt: skip
"""Valid Russian mobile codes, without 900 (kept for the fixed demo phones)."""


def _person(rng: random.Random) -> str:
    surname = rng.choice(_SYLLABLES_A) + rng.choice(_SYLLABLES_B)
    male_suffix, female_suffix = rng.choice(_SUFFIXES)
    if rng.random() < 0.5:
        return f"{surname}{male_suffix} {rng.choice(_MALE)} {rng.choice(_PATRONYMS)}ич"
    return f"{surname}{female_suffix} {rng.choice(_FEMALE)} {rng.choice(_PATRONYMS)}на"


def _phone(rng: random.Random) -> str:
    return f"+7{rng.choice(_MOBILE_CODES)}{rng.randrange(10_000_000):07d}"


@dataclass(frozen=True, slots=True)
class _House:
    town: str
    tz: str
    street_type: str
    street: str
    house: str
    building: str | None
    flats: int
    """0 for a private house."""


def _houses(rng: random.Random) -> Iterator[_House]:
    """Houses of the invented towns, in a seeded random order, each once."""
    slots = [
        (t, s, h) for t in range(len(_TOWNS)) for s in range(len(_STREETS)) for h in range(1, 301)
    ]
    rng.shuffle(slots)
    for t, s, h in slots:
        town, tz = _TOWNS[t]
        street_type, street = _STREETS[s]
        private = rng.random() < 0.25
        letter = rng.choice("АБВ") if rng.random() < 0.08 else ""
        building = str(rng.randint(1, 3)) if not private and rng.random() < 0.1 else None
        yield _House(
            town=town,
            tz=tz,
            street_type=street_type,
            street=street,
            house=f"{h}{letter}",
            building=building,
            flats=0 if private else rng.randint(8, 160),
        )


# -- bulk generation -----------------------------------------------------------------


_ACCOUNT_COLUMNS: Final = (
    "id", "number", "number_key", "holder_name", "category", "region", "settlement",
    "street_type", "street", "house", "building", "structure", "flat", "address_key",
    "house_key", "settlement_key", "email", "debt", "debt_as_of", "timezone", "created_at",
    "updated_at",
)  # fmt: skip
_PHONE_COLUMNS: Final = ("id", "account_id", "phone", "in_contract")
_METER_COLUMNS: Final = (
    "id", "serial", "account_id", "zones", "digits", "decimals", "last_t1", "last_t2",
    "last_t3", "last_reading_at",
)  # fmt: skip


def _rows(
    n_accounts: int, seed: int, first_number: int, ids: tuple[int, int, int]
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]]:
    """(account, phones, meter) rows, deterministic for a seed."""
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    as_of = date(2025, 3, 1)
    account_id, phone_id, meter_id = ids
    parsed_cache: dict[tuple[str, str, str, str, str | None], ParsedAddress] = {}
    previous_phone: str | None = None
    made = 0
    for house in _houses(rng):
        key = (house.town, house.street_type, house.street, house.house, house.building)
        base = parsed_cache.get(key)
        if base is None:
            base = from_parts(
                settlement=house.town,
                street_type=house.street_type,
                street=house.street,
                house=house.house,
                building=house.building,
            )
            parsed_cache[key] = base
        for flat_no in range(1, house.flats + 1) if house.flats else [None]:
            if made >= n_accounts:
                return
            flat = str(flat_no) if flat_no is not None else None
            parsed = replace(base, flat=flat) if flat else base
            number = f"{first_number + made:010d}"
            roll = rng.random()
            category = Category.UL if roll < 0.02 else Category.GL if roll < 0.025 else Category.FL
            holder = (
                f"ООО «{rng.choice(_COMPANY)}-{rng.randrange(1000)}»"
                if category is Category.UL
                else _person(rng)
            )
            debt = (
                Decimal(rng.randrange(10_000, 2_000_000)) / 100
                if rng.random() < 0.3
                else Decimal("0.00")
            )
            account = {
                "id": account_id,
                "number": number,
                "number_key": account_number_key(number),
                "holder_name": holder,
                "category": category,
                "region": None,
                "settlement": house.town,
                "street_type": parsed.street_type,
                "street": house.street,
                "house": house.house,
                "building": house.building,
                "structure": None,
                "flat": flat,
                "address_key": parsed.key,
                "house_key": parsed.house_key,
                "settlement_key": parsed.settlement_key,
                "email": None,
                "debt": debt,
                "debt_as_of": as_of,
                "timezone": house.tz,
                "created_at": now,
                "updated_at": now,
            }
            phones: list[dict[str, Any]] = []
            roll = rng.random()
            count = 0 if roll < 0.05 else 1 if roll < 0.85 else 2
            for i in range(count):
                phone = (
                    previous_phone
                    if i == 0 and previous_phone and rng.random() < 0.03
                    else _phone(rng)
                )
                if any(p["phone"] == phone for p in phones):
                    continue
                phones.append(
                    {"id": phone_id, "account_id": account_id, "phone": phone, "in_contract": True}
                )
                phone_id += 1
            if phones:
                previous_phone = phones[0]["phone"]
            zones = 1 if rng.random() < 0.7 else 2 if rng.random() < 0.85 else 3
            values = [Decimal(rng.randrange(100, 90_000)) for _ in range(zones)]
            meter = {
                "id": meter_id,
                "serial": f"GEN{seed % 1000:03d}-{first_number + made:010d}",
                "account_id": account_id,
                "zones": zones,
                "digits": 6,
                "decimals": 0,
                "last_t1": values[0],
                "last_t2": values[1] if zones > 1 else None,
                "last_t3": values[2] if zones > 2 else None,
                "last_reading_at": now - timedelta(days=rng.randrange(1, 60)),
            }
            account_id += 1
            meter_id += 1
            made += 1
            yield account, phones, meter
    if made < n_accounts:
        raise ValueError(f"the invented towns hold fewer than {n_accounts} accounts")


def _next_ids(conn: Connection) -> tuple[int, int, int]:
    def next_id(col: Any) -> int:
        return int(conn.execute(select(func.coalesce(func.max(col), 0))).scalar_one()) + 1

    return next_id(Account.id), next_id(AccountPhone.id), next_id(Meter.id)


def generated_count(db: Database) -> int:
    """How many accounts :func:`generate` completed in this database (0: none)."""
    with db.session() as session:
        counter = session.get(Counter, _GENERATED_MARKER)
        return int(counter.value) if counter else 0


def generate(
    db: Database,
    n_accounts: int,
    seed: int = DEMO_SEED,
    *,
    first_number: int = 2_000_000_000,
    batch: int = 20_000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Add ``n_accounts`` invented accounts (with phones and a meter each).

    Account numbers are ``first_number``, ``first_number + 1`` … (10 digits),
    so call it on a database without those numbers. Deterministic for a
    ``seed``. Everything is written in one transaction; the count is recorded
    for :func:`generated_count`. Returns the number of accounts written.
    """
    if n_accounts <= 0:
        return 0
    postgres = db.dialect == "postgresql"
    done = 0
    engine = db.engine.execution_options(sqlite_begin="IMMEDIATE")
    with engine.connect() as conn:
        with conn.begin():
            ids = _next_ids(conn)
            accounts: list[dict[str, Any]] = []
            phones: list[dict[str, Any]] = []
            meters: list[dict[str, Any]] = []
            for account, account_phones, meter in _rows(n_accounts, seed, first_number, ids):
                accounts.append(account)
                phones.extend(account_phones)
                meters.append(meter)
                if len(accounts) >= batch:
                    _flush(conn, postgres, accounts, phones, meters)
                    done += len(accounts)
                    accounts, phones, meters = [], [], []
                    if progress is not None:
                        progress(done, n_accounts)
            if accounts:
                _flush(conn, postgres, accounts, phones, meters)
                done += len(accounts)
            if postgres:
                for table in ("accounts", "account_phones", "meters"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
            previous = conn.execute(
                select(Counter.value).where(Counter.name == _GENERATED_MARKER)
            ).scalar_one_or_none()
            if previous is None:
                conn.execute(insert(Counter).values(name=_GENERATED_MARKER, value=done))
            else:
                conn.execute(
                    update(Counter)
                    .where(Counter.name == _GENERATED_MARKER)
                    .values(value=previous + done)
                )
    if progress is not None:
        progress(done, n_accounts)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE accounts, account_phones, meters" if postgres else "ANALYZE")
        conn.commit()
    logger.info("generated %s demo accounts (seed %s, %s)", done, seed, db.dialect)
    return done


def _flush(
    conn: Connection,
    postgres: bool,
    accounts: list[dict[str, Any]],
    phones: list[dict[str, Any]],
    meters: list[dict[str, Any]],
) -> None:
    if postgres:
        _copy(conn, "accounts", _ACCOUNT_COLUMNS, accounts)
        _copy(conn, "account_phones", _PHONE_COLUMNS, phones)
        _copy(conn, "meters", _METER_COLUMNS, meters)
        return
    conn.execute(insert(Account), accounts)
    if phones:
        conn.execute(insert(AccountPhone), phones)
    conn.execute(insert(Meter), meters)


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    tuple(
                        v.value if isinstance(v, Category) else v for v in (row[c] for c in columns)
                    )
                )


# -- the named demo set ---------------------------------------------------------------


def load_demo(db: Database, *, size: int = DEMO_SIZE) -> None:
    """Load the named demo set (idempotent): the fixed accounts, their meters
    and a reading history, the demo operators, and generated neighbours up to
    ``size`` accounts."""
    with db.session(write=True) as session:
        upsert_accounts(session, [a.data() for a in DEMO_ACCOUNTS])
        meter_ids = upsert_meters(
            session,
            [
                MeterData(
                    serial=a.meter_serial,
                    account_number=a.number,
                    zones=a.meter_zones,
                    last_t1=Decimal("12345"),
                    last_t2=Decimal("6789") if a.meter_zones > 1 else None,
                    last_t3=Decimal("1011") if a.meter_zones > 2 else None,
                )
                for a in DEMO_ACCOUNTS
                if a.meter_serial
            ],
        ).ids
        caller_meter = meter_ids[DEMO_CALLER.meter_serial or ""]
        has_history = session.execute(
            select(func.count()).select_from(Reading).where(Reading.meter_id == caller_meter)
        ).scalar_one()
        if not has_history:
            start = datetime(2024, 10, 25, 9, 0, tzinfo=UTC)
            for month in range(4):
                for zone, base in ((TariffZone.T1, 11800), (TariffZone.T2, 6500)):
                    session.add(
                        Reading(
                            meter_id=caller_meter,
                            zone=zone,
                            value=Decimal(base + month * 130),
                            taken_at=start + timedelta(days=30 * month),
                            source=ReadingSource.KEYPAD,
                            status=ReadingStatus.ACCEPTED,
                        )
                    )
        for op in DEMO_OPERATORS:
            exists = session.execute(
                select(Operator.id).where(Operator.login == op.login)
            ).scalar_one_or_none()
            if exists is None:
                session.add(
                    Operator(
                        login=op.login,
                        name=op.name,
                        role=op.role,
                        password_hash=hash_password(op.password),
                        pjsip_endpoint=op.endpoint,
                        interface=op.interface,
                    )
                )
        loaded = session.get(Counter, _DEMO_MARKER)
        if loaded is None:
            session.add(Counter(name=_DEMO_MARKER, value=1))
    rest = size - len(DEMO_ACCOUNTS)
    with db.session() as session:
        already = session.execute(
            select(func.count()).select_from(Account).where(Account.number.like("1000001%"))
        ).scalar_one()
    if rest > 0 and not already:
        generate(db, rest, DEMO_SEED, first_number=1_000_001_000)
