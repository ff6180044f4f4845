"""Uploads are capped (issue 11): an XLSX that unpacks to too much is refused
unread, a file with too many rows is refused, a cell that is too long
rejects its row, and a report keeps only the start of a rejected value."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.tabular import (
    MAX_ROWS,
    SHOWN_CHARS,
    TableLimitError,
    check_rows,
    check_xlsx,
    long_cell,
    shown,
)
from hotline.slices import upgrade


def zip_bomb(unpacked: int) -> bytes:
    """A ZIP (an .xlsx, as far as the name goes) whose one member unpacks to
    ``unpacked`` bytes of zeros: a few hundred kilobytes on the wire."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = bytes(2**20)
            for _ in range(unpacked // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def test_a_zip_bomb_is_refused_by_its_directory() -> None:
    bomb = zip_bomb(300 * 2**20)
    assert len(bomb) < 2 * 2**20
    with pytest.raises(TableLimitError, match="распаковывается в 300 МБ"):
        check_xlsx(bomb)
    check_xlsx(zip_bomb(2 * 2**20))  # a small workbook passes


def test_a_broken_zip_is_a_clear_error() -> None:
    with pytest.raises(TableLimitError, match="повреждён"):
        check_xlsx(b"PK\x03\x04 not really a zip")


def test_rows_cells_and_shown_values() -> None:
    check_rows(MAX_ROWS)
    with pytest.raises(TableLimitError, match="разделите"):
        check_rows(MAX_ROWS + 1)
    assert long_cell(["a", "b" * 4000, 5]) is None
    assert long_cell(["a", "b" * 4001]) == 4001
    cut = shown("=" * 1000)
    assert len(cut) == SHOWN_CHARS and cut.endswith("…")
    assert shown(None) == "" and shown("+79001234567") == "+79001234567"


def test_account_import_refuses_a_bomb_and_rejects_a_long_cell(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crm_bridge.db import Database
    from crm_bridge.importers import ImportFileError, import_accounts

    db = Database(f"sqlite:///{tmp_path / 'crm.db'}")
    upgrade(db)
    with pytest.raises(ImportFileError, match="распаковывается"):
        import_accounts(db, zip_bomb(300 * 2**20), filename="accounts.xlsx")
    long_name = "Я" * 5000
    csv = (
        "Лицевой счёт;ФИО;Адрес\n"
        f"1000000099;{long_name};г. Тест, ул. Ленина, д. 1\n"
        "1000000098;Петров Пётр;г. Тест, ул. Ленина, д. 2\n"
    ).encode()
    report = import_accounts(db, csv, filename="accounts.csv")
    assert report.valid_rows == 1 and report.rejected_lines == [2]
    assert "5000 символов" in report.rejected[0].reason


def test_contact_list_rejections_keep_a_short_value(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from autoinformer.campaigns import CampaignService
    from autoinformer.contacts import ContactListService
    from crm_bridge.db import Database
    from tests.autoinformer.helpers import always_open

    db = Database(f"sqlite:///{tmp_path / 'crm.db'}")
    upgrade(db)
    start, end = always_open()
    cid = CampaignService(db).create("Долги", "debt", start_at=start, end_at=end)
    hostile_phone = "=HYPERLINK(" + "x" * 5000 + ")"
    res = ContactListService(db).import_rows(
        cid,
        [
            {"phone": hostile_phone, "debt": "10"},  # a long cell: the row is rejected
            {"phone": "не телефон " * 5, "debt": "10"},  # an invalid phone, value kept short
        ],
    )
    assert res.accepted == 0 and len(res.rejected) == 2
    assert all(len(r.value) <= 80 for r in res.rejected)
    assert "символов" in res.rejected[0].reason
