"""Contact lists as Russian offices prepare them (REQ-O2; issue 15 item 3):
Russian headers and their synonyms, a header below title rows, ДД.ММ.ГГГГ
[ЧЧ:ММ] dates (text and real date cells), «1 234,50» amounts, CSV in
Windows-1251 or UTF-8 with or without BOM, ``;`` or ``,``; a binary, garbled
or headerless file refused as a whole with a Russian reason naming the line;
a bad value rejecting only its row. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import Workbook

from autoinformer.campaigns import CampaignError, CampaignService
from autoinformer.contacts import ContactListService, parse_timezone
from autoinformer.tables import (
    CellError,
    canonical_header,
    normalise_row,
    parse_datetime,
    parse_money,
)
from crm_bridge.db import Database
from tests.autoinformer.helpers import make_accounts

PHONES = ["+79005551001", "+79005551002", "+79005551003"]


def xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _contacts(db: Database, cid: int) -> dict[str, dict[str, Any]]:
    return {c.phone: dict(c.variables) for c in CampaignService(db).contacts(cid)}


# -- headers, dates, amounts -------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "canon"),
    [
        ("Телефон", "phone"),
        ("Номер телефона", "phone"),
        ("Тел.", "phone"),
        ("  ТЕЛЕФОН  ", "phone"),
        ("phone", "phone"),
        ("Лицевой счёт", "account"),
        ("Лицевой счет", "account"),
        ("ЛС", "account"),
        ("Л/С", "account"),
        ("№ ЛС", "account"),
        ("Сумма долга", "debt"),
        ("Сумма долга, руб.", "debt"),
        ("Задолженность (₽)", "debt"),
        ("Задолженность", "debt"),
        ("Дата отключения с", "outage_from"),
        ("Дата отключения по", "outage_to"),
        ("Дата отключения с/по", "outage_period"),
        ("Срок оплаты", "due_date"),
        ("ФИО", "name"),
        ("Ф.И.О.", "name"),
        ("Адрес", "address"),
        ("outage_from", "outage_from"),
        ("Примечание", "примечание"),
    ],
)
def test_russian_headers_and_their_synonyms(header: str, canon: str) -> None:
    assert canonical_header(header) == canon


def test_russian_dates_and_amounts() -> None:
    assert parse_datetime("20.12.2026") == datetime(2026, 12, 20)
    assert parse_datetime("7.12.2026 9:30") == datetime(2026, 12, 7, 9, 30)
    assert parse_datetime("07.12.2026 10:00:15") == datetime(2026, 12, 7, 10, 0, 15)
    assert parse_datetime("2026-12-07T10:00") == datetime(2026, 12, 7, 10, 0)
    assert parse_datetime(date(2026, 12, 7)) == datetime(2026, 12, 7)
    with pytest.raises(CellError, match=r"несуществующая дата «31\.02\.2026»"):
        parse_datetime("31.02.2026")
    with pytest.raises(CellError, match=r"ДД\.ММ\.ГГГГ"):
        parse_datetime("завтра")
    assert parse_money("1 234,50") == Decimal("1234.50")
    assert parse_money("1\u00a0234,5 руб.") == Decimal("1234.50")
    assert parse_money("99 ₽") == Decimal("99.00")
    assert parse_money(1234.5) == Decimal("1234.50")
    with pytest.raises(CellError, match="не число"):
        parse_money("много")
    kinds = {"outage_from": "datetime", "outage_to": "datetime", "debt": "money"}
    row = normalise_row(
        {"outage_period": "20.12.2026 10:00 – 20.12.2026 18:00", "debt": "1 000,00"}, kinds
    )
    assert row == {
        "outage_from": "2026-12-20T10:00",
        "outage_to": "2026-12-20T18:00",
        "debt": "1000.00",
    }
    assert normalise_row({"outage_period": "20.12.2026 10:00-18:00"}, kinds)["outage_to"] == (
        "2026-12-20T18:00"
    )
    with pytest.raises(CellError, match=r"«Дата отключения с/по»: период .* окончание"):
        normalise_row({"outage_period": "20.12.2026 18:00 – 20.12.2026 10:00"}, kinds)
    with pytest.raises(CellError, match="«Дата отключения с»"):
        normalise_row({"outage_from": "20/12/2026"}, kinds)


# -- files into a campaign ---------------------------------------------------------


def test_xlsx_with_title_rows_russian_headers_and_dates(any_db: Database) -> None:
    """The list as an office sends it: a title, a date line, a blank row,
    then the header in Russian; dates as text and as real date cells."""
    accounts = make_accounts(any_db, PHONES, prefix="41")
    cid = CampaignService(any_db).create("Отключение", "planned_outage", created_by="disp")
    data = xlsx(
        [
            ["Список абонентов для уведомления об отключении на 01.12.2026"],
            ["Филиал «Центральный»"],
            [],
            ["№", "ФИО", "Лицевой счёт", "Номер телефона", "Дата отключения с", "Дата отключения по"],
            [1, "Иванов И. И.", accounts[PHONES[0]], "8 (900) 555-10-01", "20.12.2026 10:00", "20.12.2026 18:00"],
            [2, "Петров П. П.", accounts[PHONES[1]], 79005551002, datetime(2026, 12, 21, 9, 0), datetime(2026, 12, 21, 17, 30)],
            [3, "Сидоров С. С.", accounts[PHONES[2]], "+7 900 555-10-03", "32.12.2026 10:00", "20.12.2026 18:00"],
        ]
    )  # fmt: skip
    res = ContactListService(any_db).import_file(cid, data, "Список на 01.12.xlsx", by="disp")
    assert res.accepted == 2, res.rejected
    (bad,) = res.rejected
    assert bad.line == 7 and "несуществующая дата «32.12.2026 10:00»" in bad.reason
    assert "«Дата отключения с»" in bad.reason
    got = _contacts(any_db, cid)
    assert got[PHONES[0]]["outage_from"] == "2026-12-20T10:00"
    assert got[PHONES[0]]["outage_to"] == "2026-12-20T18:00"
    assert got[PHONES[0]]["name"] == "Иванов И. И."
    assert got[PHONES[1]]["outage_from"] == "2026-12-21T09:00"
    assert got[PHONES[1]]["outage_to"] == "2026-12-21T17:30"
    preview = CampaignService(any_db).preview(cid)
    assert "двадцатого декабря" in preview, preview


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [("cp1251", ";"), ("utf-8-sig", ";"), ("utf-8", ","), ("utf-8-sig", ",")],
)
def test_csv_in_windows_1251_or_utf8_with_either_separator(
    any_db: Database, encoding: str, sep: str
) -> None:
    make_accounts(any_db, PHONES, prefix="42")
    cid = CampaignService(any_db).create("Оплата", "payment_reminder", created_by="disp")
    # As Excel writes it: a value holding the separator is quoted.
    money = '"1 234,50"' if sep == "," else "1 234,50"
    debt = '"Сумма долга, руб."' if sep == "," else "Сумма долга, руб."
    lines = [
        "Реестр должников",
        "",
        sep.join(["Тел.", "ФИО", debt, "Срок оплаты"]),
        sep.join(["+79005551001", "Иванов Иван", money, "25.12.2026"]),
        sep.join(["89005551002", "Ёлкина Алёна", money, "2026-12-26"]),
        sep.join(["+79005551003", "Сидоров", money, "в декабре"]),
    ]
    data = "\r\n".join(lines).encode(encoding)
    res = ContactListService(any_db).import_file(cid, data, "реестр.csv", by="disp")
    assert res.accepted == 2, res.rejected
    (bad,) = res.rejected
    assert bad.line == 6 and "«Срок оплаты»" in bad.reason and "ДД.ММ.ГГГГ" in bad.reason
    got = _contacts(any_db, cid)
    assert got["+79005551001"]["due_date"] == "2026-12-25"
    assert got["+79005551001"]["debt"] == "1234.50"
    assert got["+79005551002"]["name"] == "Ёлкина Алёна"
    assert got["+79005551002"]["due_date"] == "2026-12-26"


def _damaged_sheet(data: bytes) -> bytes:
    """The XLSX with the compressed bytes of its sheet overwritten."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    header = info.header_offset
    name_len = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_len = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_len + extra_len
    return data[:start] + b"\xff" * 40 + data[start + 40 :]


def _refused(db: Database, data: bytes, filename: str) -> str:
    cid = CampaignService(db).create("Долги", "debt", created_by="disp")
    with pytest.raises(CampaignError) as caught:
        ContactListService(db).import_file(cid, data, filename, by="disp")
    assert CampaignService(db).stats(cid).total == 0  # nothing half-imported
    return str(caught.value)


def test_binary_garbled_and_headerless_files_are_refused_with_the_line(
    any_db: Database,
) -> None:
    # A binary file named .csv (a picture, a Word document…).
    msg = _refused(any_db, b"Phone;Name\r\n+79001112233;\x00\x01\x02\xff", "list.csv")
    assert msg.startswith("строка 2: файл двоичный"), msg
    # Text in an encoding that is neither UTF-8 nor Windows-1251 (DOS-866).
    text = "Телефон;ФИО\r\n+79001112233;Иванов\r\n+79001112234;Петров Пётр Ильич\r\n"
    msg = _refused(any_db, text.encode("cp866"), "list.csv")
    assert msg.startswith("строка 1: кодировка файла не распознана"), msg
    # UTF-8 that breaks on the third line.
    data = "Телефон;ФИО\r\n+79001112233;Иванов\r\n".encode() + b"+79001112234;\xd0\xd0\xff\r\n"
    msg = _refused(any_db, data, "list.csv")
    assert msg.startswith("строка 3:"), msg
    # An XLSX whose archive is damaged, one that is no ZIP at all, an old XLS.
    good = xlsx([["Телефон"], ["+79001112233"]])
    msg = _refused(any_db, _damaged_sheet(good), "list.xlsx")
    assert "XLSX" in msg and "повреждён" in msg, msg
    msg = _refused(any_db, good[: len(good) // 2], "list.xlsx")
    assert "XLSX" in msg and "повреждён" in msg, msg
    # (the page shows it: Russian words only, no reader's English exception)
    assert "zip" not in msg.lower() and "Error" not in msg, msg
    msg = _refused(any_db, b"not a spreadsheet at all", "list.xlsx")
    assert "не является файлом Excel" in msg, msg
    msg = _refused(any_db, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "list.xls")
    assert "XLS" in msg and "97–2003" in msg, msg
    # A ZIP that is no workbook.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    msg = _refused(any_db, buf.getvalue(), "list.xlsx")
    assert "XLSX" in msg and "не читается" in msg, msg
    # No header among the first rows.
    msg = _refused(any_db, xlsx([["Отчёт"], ["a", "b"], [1, 2]]), "list.xlsx")
    assert "не найдена строка заголовков" in msg and "«Телефон»" in msg, msg
    # An XLSX sent with a .csv name is read as what it is.
    make_accounts(any_db, ["+79001112233"], prefix="43")
    cid = CampaignService(any_db).create("Долги", "debt", created_by="disp")
    res = ContactListService(any_db).import_file(cid, good, "list.csv", by="disp")
    assert res.accepted == 1 and not res.rejected


@pytest.mark.parametrize(
    ("cell", "zone"),
    [
        ("МСК", "Europe/Moscow"),
        ("мск+4", "Etc/GMT-7"),
        ("МСК −1", "Etc/GMT-2"),
        ("MSK+7", "Etc/GMT-10"),
        ("UTC+5", "Etc/GMT-5"),
        ("GMT", "Etc/UTC"),
        ("Asia/Omsk", "Asia/Omsk"),
    ],
)
def test_time_zones_as_offices_write_them(cell: str, zone: str) -> None:
    assert parse_timezone(cell) == zone


def test_a_time_zone_column_sets_the_contacts_zone_or_rejects_its_row(any_db: Database) -> None:
    """«Часовой пояс» of the list (REQ-O4 windows are the customer's): it
    overrides the account's; an unknown zone rejects its row with why."""
    make_accounts(any_db, PHONES, prefix="44", timezone="Europe/Moscow")
    cid = CampaignService(any_db).create("Долги", "debt", created_by="disp")
    data = xlsx(
        [
            ["Телефон", "Часовой пояс"],
            [PHONES[0], "МСК+4"],
            [PHONES[1], "Марс+1"],
            [PHONES[2], ""],
        ]
    )
    res = ContactListService(any_db).import_file(cid, data, "list.xlsx", by="disp")
    assert res.accepted == 2
    (bad,) = res.rejected
    assert bad.line == 3 and "неизвестный часовой пояс «Марс+1»" in bad.reason, bad
    zones = {c.phone: c.timezone for c in CampaignService(any_db).contacts(cid)}
    assert zones == {PHONES[0]: "Etc/GMT-7", PHONES[2]: "Europe/Moscow"}


def test_english_headers_and_rows_still_work(any_db: Database) -> None:
    accounts = make_accounts(any_db, PHONES[:2], prefix="44")
    cid = CampaignService(any_db).create("Долги", "debt", created_by="disp")
    data = f"phone,account,debt\n{PHONES[0]},{accounts[PHONES[0]]},500.5\n".encode()
    res = ContactListService(any_db).import_file(cid, data, "list.csv", by="disp")
    assert res.accepted == 1 and not res.rejected
    assert _contacts(any_db, cid)[PHONES[0]]["debt"] == "500.50"
    res = ContactListService(any_db).import_rows(cid, [{"Телефон": PHONES[1], "Долг": 7}])
    assert res.accepted == 1 and _contacts(any_db, cid)[PHONES[1]]["debt"] == "7.00"
