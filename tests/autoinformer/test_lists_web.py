"""The contact list and the do-not-call list in the console (issue 15 item 3;
REQ-O2, O7), over HTTP behind the one web edge: a Russian XLSX list, a
garbled or binary file answered by a 400 page in Russian naming the line,
the contact list page with states, reasons held back and the next attempt,
paging, edit and removal while a draft, the do-not-call page (add, remove,
import) refusing pending contacts at once; every page that shows numbers is
audited. (The browser test is tests/e2e/test_lists_browser.py.)"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook
from sqlalchemy import select

from autoinformer.campaigns import CampaignService
from autoinformer.models import Contact, DoNotCall
from autoinformer.store import AttemptStore
from core.settings import Settings
from crm_bridge.db import Database
from tests.autoinformer.helpers import always_open, make_accounts
from tests.autoinformer.test_web import _as, _create, _operators
from tests.webtools import FakeServices, root_app
from webedge.models import AuditEvent


@pytest.fixture
async def client(
    db: Database, tmp_path: Path
) -> AsyncIterator[tuple[TestClient[Any, Any], FakeServices]]:
    """The console behind the one web edge, with test_web's users."""
    _operators(db)
    settings = Settings(asterisk_root=tmp_path, data_dir=tmp_path / "data").resolve()
    services = FakeServices.create(settings, db)
    c: TestClient[Any, Any] = TestClient(TestServer(root_app(services, "/dispatcher/")))
    await c.start_server()
    yield c, services
    await c.close()


def russian_xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Список должников на 01.12.2026"])
    ws.append([])
    ws.append(["ФИО", "Номер телефона", "Сумма долга, руб.", "Оплатить до"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def upload(c: TestClient[Any, Any], path: str, csrf: str, data: bytes, name: str) -> Any:
    form = FormData()
    form.add_field("file", data, filename=name)
    return await c.post(f"{path}?csrf={csrf}", data=form, allow_redirects=False)


def audited(db: Database, action: str) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return [(a.login, a.subject) for a in rows]


async def test_russian_list_contact_page_edit_and_remove(client: Any, db: Database) -> None:
    c, _ = client
    phones = ["+79005552001", "+79005552002", "+79005552003"]
    make_accounts(db, phones, prefix="51")
    csrf = await _as(c, "disp")
    url = await _create(c, csrf, "Долги, декабрь")
    cid = int(url.rsplit("/", 1)[1])
    listing = russian_xlsx(
        [
            ["Иванов Иван Иванович", "8 900 555-20-01", "1 234,50", "25.12.2026"],
            ["Петрова Анна", "+7 (900) 555-20-02", 99.9, datetime(2026, 12, 26)],
            ["Сидоров", "+79005552003", "долг", "25.12.2026"],
        ]
    )
    r = await upload(c, f"{url}/import", csrf, listing, "Должники.xlsx")
    assert r.status == 302, await r.text()
    page = await (await c.get(url)).text()
    assert "принято 2, отклонено 1" in page and "«Сумма долга»: сумма «долг» не число" in page
    assert "одна тысяча двести тридцать четыре рубля пятьдесят копеек" in page

    # A garbled or binary file: a 400 page in Russian naming the line, nothing lost.
    for data, name, expected in (
        (b"\xd0\xa2\xd0\xb5\xd0\xbb\n+7900\x00\x00\x00\xff", "list.csv", "Строка 2: файл двоичный"),
        ("Телефон\n+79001112233 Иванов\n".encode("cp866"), "list.csv", "Строка 1: кодировка"),
        (b"PK\x03\x04" + b"\x00garbage" * 20, "list.xlsx", "XLSX повреждён"),
        (russian_xlsx([])[:300], "list.xlsx", "XLSX повреждён"),
    ):
        r = await upload(c, f"{url}/import", csrf, data, name)
        text = await r.text()
        assert r.status == 400, (name, r.status, text[:300])
        assert expected in text and "Traceback" not in text, (expected, text[:600])
    assert CampaignService(db).stats(cid).total == 2

    # The contact list page: who, the state in Russian; audited with its page.
    r = await c.get(f"{url}/contacts")
    page = await r.text()
    assert r.status == 200
    assert "Иванов Иван Иванович" in page and phones[0] in page and "Ожидает звонка" in page
    assert "Изменить" in page and "Удалить" in page
    assert ("disp", f"campaign:{cid}:page:1") in audited(db, "campaign.contacts")
    with db.session() as s:
        ids = {x.phone: x.id for x in s.scalars(select(Contact).where(Contact.campaign_id == cid))}

    # Edit: the amount as an office writes it is stored as a number; a bad
    # date or a number off the contract is refused with its reason.
    edit = f"{url}/contacts/{ids[phones[0]]}"
    form = await (await c.get(edit)).text()
    assert 'name="var:debt"' in form and 'value="1234.50"' in form and "Сумма долга" in form
    assert ("disp", f"campaign:{cid}:contact:{ids[phones[0]]}") in audited(db, "campaign.contact")
    r = await c.post(
        edit,
        data={"csrf": csrf, "phone": phones[0], "var:debt": "2 000,00", "var:name": "Иванов И. И."},
        allow_redirects=False,
    )
    assert r.status == 302, await r.text()
    with db.session() as s:
        contact = s.get(Contact, ids[phones[0]])
        assert contact is not None
        assert (
            contact.variables["debt"] == "2000.00" and contact.variables["name"] == "Иванов И. И."
        )
    r = await c.post(edit, data={"csrf": csrf, "phone": phones[0], "var:due_date": "31.02.2026"})
    assert r.status == 400 and "несуществующая дата «31.02.2026»" in await r.text()
    r = await c.post(edit, data={"csrf": csrf, "phone": "+79990001122"})
    assert r.status == 400 and "Номера нет в договоре" in await r.text()
    r = await c.post(edit, data={"csrf": csrf, "phone": phones[1]})
    assert r.status == 400 and "уже есть в списке" in await r.text()

    # Remove one.
    r = await c.post(
        f"{url}/contacts/{ids[phones[1]]}/delete", data={"csrf": csrf}, allow_redirects=False
    )
    assert r.status == 302
    page = await (await c.get(f"{url}/contacts")).text()
    assert phones[1] not in page and CampaignService(db).stats(cid).total == 1

    # Once running, the list no longer changes (and offers no edit).
    CampaignService(db).submit(cid, "disp")
    boss = await _as(c, "boss")
    r = await c.post(f"{url}/approve", data={"csrf": boss}, allow_redirects=False)
    assert r.status == 302, await r.text()
    r = await c.post(f"{url}/launch", data={"csrf": boss}, allow_redirects=False)
    assert r.status == 302, await r.text()
    page = await (await c.get(f"{url}/contacts")).text()
    assert "Изменить" not in page and "не меняется" in page
    r = await c.post(f"{url}/contacts/{ids[phones[0]]}/delete", data={"csrf": boss})
    assert r.status == 400 and "менять нельзя" in await r.text()


async def test_reasons_held_back_next_attempt_and_paging(client: Any, db: Database) -> None:
    c, _ = client
    held = [f"+790055530{i:02d}" for i in range(60)]
    make_accounts(db, held, prefix="52", timezone="Asia/Omsk")
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create("Долги, Омск", "debt", start_at=start, end_at=end, created_by="disp")
    from autoinformer.contacts import ContactListService

    res = ContactListService(db).import_rows(cid, [{"Телефон": p} for p in held])
    assert res.accepted == 60, res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    # 17:00 UTC on a Monday is 23:00 in Omsk: every contact waits for 08:00 there.
    late = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    assert AttemptStore(db, "n1").claim(100, now=late) == []
    await _as(c, "disp")
    page = await (await c.get(f"/dispatcher/campaigns/{cid}/contacts")).text()
    assert page.count("вне разрешённых часов (будний день)") == 50
    assert "02.06.2026 08:00 (Asia/Omsk)" in page
    assert "Страница 1 из 2" in page and 'id="next"' in page
    page2 = await (await c.get(f"/dispatcher/campaigns/{cid}/contacts?page=2")).text()
    assert page2.count("вне разрешённых часов") == 10 and held[-1] in page2
    assert held[0] not in page2
    # A number put on the do-not-call list is refused at once, with its reason.
    csrf = await _as(c, "boss")
    r = await c.post(
        "/dispatcher/dnc/add",
        data={"csrf": csrf, "phone": "8 900 555-30-00", "reason": "просьба абонента"},
        allow_redirects=False,
    )
    assert r.status == 302, await r.text()
    page = await (await c.get(f"/dispatcher/campaigns/{cid}/contacts?status=refused")).text()
    assert "номер в списке «не звонить»" in page and held[0] in page and held[1] not in page
    assert ("boss", f"phone:{held[0]}") in audited(db, "dnc.add")


async def test_do_not_call_page(client: Any, db: Database) -> None:
    c, _ = client
    csrf = await _as(c, "disp")
    r = await c.get("/dispatcher/dnc")
    assert r.status == 200 and "Список пуст" in await r.text()
    assert ("disp", "page:1") in audited(db, "dnc.view")
    # A bad number, no reason: refused with the reason.
    r = await c.post("/dispatcher/dnc/add", data={"csrf": csrf, "phone": "123", "reason": "x"})
    assert r.status == 400 and "Телефон «123»" in await r.text()
    r = await c.post(
        "/dispatcher/dnc/add", data={"csrf": csrf, "phone": "+79005554001", "reason": " "}
    )
    assert r.status == 400 and "Укажите причину" in await r.text()
    # Import: cp1251 CSV with a title row, a reason column, a bad row.
    data = (
        "Отказы от звонков\r\nТелефон;Причина\r\n+79005554001;жалоба\r\n"
        "89005554002;\r\nне номер;просьба\r\n"
    ).encode("cp1251")
    r = await upload(c, "/dispatcher/dnc/import", csrf, data, "отказы.csv")
    page = await r.text()
    assert r.status == 200 and "добавлено 2, отклонено 1" in page, page[:2000]
    assert "+79005554001" in page and "жалоба" in page and "загружен из файла" in page
    assert ("disp", "added:2") in audited(db, "dnc.import")
    r = await upload(c, "/dispatcher/dnc/import", csrf, b"\x00\x01\x02", "x.csv")
    assert r.status == 400 and "двоичный" in await r.text()
    # Remove.
    r = await c.post(
        "/dispatcher/dnc/remove",
        data={"csrf": csrf, "phone": "+79005554001"},
        allow_redirects=False,
    )
    assert r.status == 302
    with db.session() as s:
        assert list(s.scalars(select(DoNotCall.phone))) == ["+79005554002"]
    r = await c.post("/dispatcher/dnc/remove", data={"csrf": csrf, "phone": "+79005554001"})
    assert r.status == 400 and "нет в списке «не звонить»" in await r.text()
    # An operator may not see or change it.
    op = await _as(c, "ivanov")
    assert (await c.get("/dispatcher/dnc", allow_redirects=False)).status == 403
    r = await c.post(
        "/dispatcher/dnc/add", data={"csrf": op, "phone": "+79005554003", "reason": "x"}
    )
    assert r.status == 403
