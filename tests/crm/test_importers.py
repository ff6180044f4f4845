"""Importing accounts and meters (REQ-T15: one shared database filled from the
utility's billing exports), with corrupted files."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm_bridge import accounts as accounts_module
from crm_bridge.db import Database
from crm_bridge.identify import Identifier
from crm_bridge.importers import (
    EncodingNotRecognised,
    ImportFileError,
    MissingColumns,
    UnsupportedFormat,
    decode_csv_bytes,
    import_accounts,
    import_meters,
)
from crm_bridge.models import Account, AccountPhone, Category, Meter

HEADER = "Лицевой счёт;ФИО;Категория;Населённый пункт;Улица;Дом;Квартира;Телефон;Задолженность"
GOOD_ROWS = [
    "0012345678;Тестов Тест Тестович;ФЛ;г. Демоград;ул. Ленина;5;12;8 (900) 123-45-67;1 543,20",
    "0012345679;Примерова Анна;ФЛ;г. Демоград;ул. Ленина;5;13;+79001112233, 8-391-212-34-56;0",
    "777000;ООО «Демо-Энерго»;ЮЛ;г. Демоград;пр-т Мира;10к2;;;12500",
]


def csv_bytes(rows: list[str], *, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    # «» do not exist in every Cyrillic code page: replaced by "?" there.
    return ("\r\n".join([header, *rows]) + "\r\n").encode(encoding, errors="replace")


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# -- encodings ------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "utf-16"])
def test_accepted_encodings(db: Database, encoding: str) -> None:
    report = import_accounts(db, csv_bytes(GOOD_ROWS, encoding=encoding), filename="a.csv")
    assert report.ok, report.rejected
    assert report.committed
    assert report.created == 3
    assert report.encoding == encoding
    with db.session() as session:
        holder = session.execute(
            select(Account.holder_name).where(Account.number == "777000")
        ).scalar_one()
    assert holder == "ООО «Демо-Энерго»"


@pytest.mark.parametrize("encoding", ["koi8_r", "cp866", "mac_cyrillic"])
def test_other_cyrillic_encodings_are_rejected_not_mojibaked(db: Database, encoding: str) -> None:
    with pytest.raises(EncodingNotRecognised) as info:
        import_accounts(db, csv_bytes(GOOD_ROWS, encoding=encoding), filename="a.csv")
    assert "UTF-8" in str(info.value) and "Windows-1251" in str(info.value)
    assert count(db, Account) == 0


def test_binary_and_mixed_files_are_rejected(db: Database) -> None:
    with pytest.raises(EncodingNotRecognised):
        import_accounts(db, os.urandom(2048) + b"\x00", filename="a.csv")
    mixed = csv_bytes(GOOD_ROWS[:1]) + "0012345680;Тестова;ФЛ;Демоград;Ленина;5;14;;0\r\n".encode(
        "koi8_r"
    )
    with pytest.raises(EncodingNotRecognised):
        import_accounts(db, mixed, filename="a.csv")
    utf8_as_1251_mojibake = "Р›РёС†РµРІРѕР№ СЃС‡С‘С‚;Р¤РРћ\r\n".encode("cp1251")
    with pytest.raises(EncodingNotRecognised):
        decode_csv_bytes(utf8_as_1251_mojibake)
    assert count(db, Account) == 0


def test_xlsx_renamed_to_csv_and_old_xls(db: Database, tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Лицевой счёт"])
    wb.save(book)
    with pytest.raises(ImportFileError):
        import_accounts(db, book.read_bytes(), filename="accounts.csv")
    with pytest.raises(UnsupportedFormat):
        import_accounts(db, b"\xd0\xcf\x11\xe0" + b"\x00" * 100, filename="old.xls")


# -- columns ----------------------------------------------------------------------


def test_missing_columns_are_listed_before_any_row(db: Database) -> None:
    data = csv_bytes(["1;Тестов;5"], header="Номер;Имя абонента;Дом")
    with pytest.raises(MissingColumns) as info:
        import_accounts(db, data, filename="a.csv")
    message = str(info.value)
    assert "«Лицевой счёт»" in message
    assert "«ФИО»" in message
    assert "Адрес или Улица + Дом" in message
    assert info.value.found == ["Номер", "Имя абонента", "Дом"]
    assert count(db, Account) == 0


def test_english_aliases_and_free_text_address(db: Database) -> None:
    data = csv_bytes(
        ["42,Tester,ул. Ленина д 7 кв 3,+79001234567,Asia/Krasnoyarsk"],
        header="account,holder_name,address,phone,timezone",
    )
    report = import_accounts(db, data, filename="a.csv")
    assert report.ok, report.rejected
    with db.session() as session:
        account = session.execute(select(Account)).scalar_one()
    assert (account.street, account.house, account.flat) == ("ленина", "7", "3")
    assert account.timezone == "Asia/Krasnoyarsk"
    assert Identifier(db).by_address("Ленина 7-3").account_id == account.id


# -- rows ---------------------------------------------------------------------------


def test_row_errors_are_reported_with_line_and_column(db: Database) -> None:
    rows = [
        GOOD_ROWS[0],
        "12A45;Буквин;ФЛ;Демоград;Ленина;6;1;;0",  # line 3: letters in the account
        ";Безномеров;ФЛ;Демоград;Ленина;6;2;;0",  # line 4: no account
        "100;;ФЛ;Демоград;Ленина;6;3;;0",  # line 5: no holder
        "101;Телефонов;ФЛ;Демоград;Ленина;6;4;8900123;0",  # line 6: malformed phone
        "102;Долгов;ФЛ;Демоград;Ленина;6;5;;много",  # line 7: debt not a number
        "103;Бездомов;ФЛ;Демоград;Ленина;;6;;0",  # line 8: no house
        "104;Странный;XX;Демоград;Ленина;6;7;;0",  # line 9: unknown category
        GOOD_ROWS[1],
    ]
    report = import_accounts(db, csv_bytes(rows), filename="a.csv")
    assert report.total_rows == 9
    assert report.valid_rows == 2
    assert report.committed
    by_line = {e.line: e for e in report.rejected}
    assert set(by_line) == {3, 4, 5, 6, 7, 8, 9}
    assert by_line[3].column == "Лицевой счёт" and "цифр" in by_line[3].reason
    assert "не указан лицевой" in by_line[4].reason
    assert by_line[5].column == "ФИО"
    assert by_line[6].column == "Телефон" and "8900123" in by_line[6].reason
    assert by_line[7].column == "Задолженность"
    assert by_line[8].column == "Дом"
    assert by_line[9].column == "Категория"
    assert count(db, Account) == 2
    assert "отклонено 7" in report.summary()


def test_duplicate_account_numbers_rejected_on_every_line(db: Database) -> None:
    rows = [
        GOOD_ROWS[0],
        GOOD_ROWS[1],
        "12345678;Тестов-дубль;ФЛ;Демоград;Ленина;5;99;;0",  # same account without zeros
    ]
    report = import_accounts(db, csv_bytes(rows), filename="a.csv")
    assert report.rejected_lines == [2, 4]
    assert all("повторяется" in e.reason for e in report.rejected)
    assert "также строки 4" in report.rejected[0].reason
    assert count(db, Account) == 1


def test_strict_mode_imports_nothing_on_any_error(db: Database) -> None:
    rows = [*GOOD_ROWS, "101;Телефонов;ФЛ;Демоград;Ленина;6;4;8900123;0"]
    report = import_accounts(db, csv_bytes(rows), filename="a.csv", strict=True)
    assert not report.committed
    assert report.rejected_lines == [5]
    assert count(db, Account) == 0
    assert count(db, AccountPhone) == 0


def test_dry_run_counts_but_writes_nothing(db: Database) -> None:
    report = import_accounts(db, csv_bytes(GOOD_ROWS), filename="a.csv", dry_run=True)
    assert (report.created, report.updated, report.committed) == (3, 0, False)
    assert count(db, Account) == 0


def test_database_failure_mid_import_leaves_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All valid rows in one transaction: a failure in a later chunk undoes earlier ones."""
    rows = [f"{1000 + i};Абонент {i};ФЛ;Демоград;Ленина;{i + 1};;;0" for i in range(2500)]
    original = accounts_module.upsert_accounts
    calls = {"n": 0}

    def flaky(session, items):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return original(session, items)

    monkeypatch.setattr("crm_bridge.importers.upsert_accounts", flaky)
    with pytest.raises(RuntimeError):
        import_accounts(db, csv_bytes(rows), filename="a.csv")
    assert count(db, Account) == 0


def test_reimport_is_idempotent_and_updates(db: Database) -> None:
    first = import_accounts(db, csv_bytes(GOOD_ROWS), filename="a.csv")
    assert (first.created, first.updated) == (3, 0)
    again = import_accounts(db, csv_bytes(GOOD_ROWS), filename="a.csv")
    assert (again.created, again.updated) == (0, 3)
    assert count(db, Account) == 3
    assert count(db, AccountPhone) == 3
    changed = [GOOD_ROWS[0].replace("1 543,20", "0").replace("8 (900) 123-45-67", "89005556677")]
    third = import_accounts(db, csv_bytes(changed), filename="a.csv")
    assert third.updated == 1
    with db.session() as session:
        account = session.execute(
            select(Account).where(Account.number == "0012345678")
        ).scalar_one()
        assert account.debt == Decimal("0.00")
        assert [p.phone for p in account.phones] == ["+79005556677"]
    assert count(db, AccountPhone) == 3


def test_progress_callback(db: Database) -> None:
    rows = [f"{5000 + i};Абонент {i};ФЛ;Демоград;Садовая;{i + 1};;;0" for i in range(2345)]
    seen: list[tuple[int, int]] = []
    report = import_accounts(
        db, csv_bytes(rows), filename="a.csv", progress=lambda d, t: seen.append((d, t))
    )
    assert report.created == 2345
    assert seen == [(1000, 2345), (2000, 2345), (2345, 2345)]


# -- XLSX ---------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_xlsx_import(db: Database, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "accounts.xlsx",
        [
            [],
            ["Лицевой счет", "ФИО", "Адрес", "Телефоны", "Задолженность", "Дата задолженности"],
            [
                "0012345678",
                "Тестов Т. Т.",
                "г. Демоград, ул. Ленина, д. 5, кв. 12",
                79001234567,
                1543.2,
                "01.03.2025",
            ],
            [
                777000,
                "ООО «Демо-Энерго»",
                "пр-т Мира 10 корп 2 оф 15",
                "8 (391) 212-34-56; 8 900 111 22 33",
                0,
                None,
            ],
            [None, None, None, None, None, None],
            ["abc", "Плохой", "Ленина 1", None, None, None],
        ],
    )
    report = import_accounts(db, path)
    assert report.total_rows == 3
    assert report.created == 2
    assert report.rejected_lines == [6]  # the sheet's row number
    ident = Identifier(db)
    card = ident.card(ident.by_account("12345678"))
    assert card.debt == Decimal("1543.20")
    assert card.phones == ("+79001234567",)
    assert card.debt_as_of is not None and card.debt_as_of.isoformat() == "2025-03-01"
    assert ident.by_phone("89001112233").account_id == ident.by_account("777000").account_id
    with db.session() as session:
        category = session.execute(
            select(Account.category).where(Account.number == "777000")
        ).scalar_one()
    assert category is Category.FL  # no category column: the default


def test_xlsx_numeric_account_without_leading_zeros_updates_the_same_account(
    db: Database, tmp_path: Path
) -> None:
    import_accounts(db, csv_bytes(GOOD_ROWS[:1]), filename="a.csv")
    path = write_xlsx(
        tmp_path / "a.xlsx",
        [
            ["Лицевой счёт", "ФИО", "Улица", "Дом", "Квартира"],
            [12345678, "Тестов", "Ленина", 5, 12],
        ],
    )
    report = import_accounts(db, path)
    assert (report.created, report.updated) == (0, 1)
    with db.session() as session:
        assert session.execute(select(Account.number)).scalars().all() == ["0012345678"]


# -- meters -------------------------------------------------------------------------


def test_meters_import(db: Database) -> None:
    import_accounts(db, csv_bytes(GOOD_ROWS), filename="a.csv")
    header = "Заводской номер;Лицевой счёт;Тарифность;Разрядность;Показание Т1;Показание Т2"
    rows = [
        "SN-1;0012345678;2;6;12345;6789",
        "SN-2;12345679;1;5;100;",  # account without its leading zeros
        "SN-3;99999;1;6;1;",  # unknown account
        "SN-4;777000;1;5;123456;",  # value longer than the digits
        "SN-5;777000;1;6;1;2",  # T2 on a single-zone meter
        "SN-6;777000;4;6;1;",  # 4 zones
        "SN-7;777000;1;6;-5;",  # negative
        "SN-8;777000;1;6;12,5;",  # decimal comma
    ]
    report = import_meters(db, csv_bytes(rows, header=header), filename="m.csv")
    assert report.rejected_lines == [4, 5, 6, 7, 8]
    reasons = {e.line: e.reason for e in report.rejected}
    assert "не найден" in reasons[4]
    assert "разрядност" in reasons[5]
    assert "Т2" in reasons[6]
    assert report.created == 3
    assert count(db, Meter) == 3
    again = import_meters(db, csv_bytes(rows, header=header), filename="m.csv")
    assert (again.created, again.updated) == (0, 3)
    assert count(db, Meter) == 3


def test_meters_missing_columns(db: Database) -> None:
    with pytest.raises(MissingColumns) as info:
        import_meters(db, csv_bytes(["1;2"], header="Номер;Показание"), filename="m.csv")
    assert "Заводской номер" in str(info.value)


def test_the_customers_chosen_form_of_notification_is_imported(db: Database) -> None:
    """REQ-O12: the billing export may say how each customer chose to be
    notified; a re-import without it keeps what the operator set on the card."""
    header = HEADER + ";Форма уведомления"
    rows = [
        GOOD_ROWS[0] + ";СМС",
        GOOD_ROWS[1] + ";e-mail",
        GOOD_ROWS[2] + ";",
        "0012345680;Третий;ФЛ;г. Демоград;ул. Ленина;5;14;;0;голубиная почта",
    ]
    report = import_accounts(db, csv_bytes(rows, header=header), filename="a.csv")
    assert report.created == 3
    ((line, column, reason),) = [(e.line, e.column, e.reason) for e in report.rejected]
    assert (line, column) == (5, "Форма уведомления") and "звонок, СМС или e-mail" in reason

    def chosen() -> dict[str, str | None]:
        with db.session() as session:
            return dict(session.execute(select(Account.number, Account.notify_by)).all())

    assert chosen() == {"0012345678": "sms", "0012345679": "email", "777000": None}
    with db.session(write=True) as session:  # the operator sets «звонок» on the card
        session.execute(
            Account.__table__.update().where(Account.number == "777000").values(notify_by="phone")
        )
    again = import_accounts(db, csv_bytes(GOOD_ROWS[:1] + GOOD_ROWS[2:]), filename="a.csv")
    assert again.updated == 2 and not again.rejected
    assert chosen() == {"0012345678": "sms", "0012345679": "email", "777000": "phone"}
    changed = [GOOD_ROWS[0] + ";звонок", GOOD_ROWS[2] + ";"]
    import_accounts(db, csv_bytes(changed, header=header), filename="a.csv")
    assert chosen() == {"0012345678": "phone", "0012345679": "email", "777000": "phone"}
