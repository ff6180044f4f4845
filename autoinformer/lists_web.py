"""The console's pages of the contact list and the do-not-call list (REQ-O2,
O7; issue 15 item 3), on the dispatcher sub-app (:mod:`autoinformer.web`).

* ``/campaigns/{id}/contacts`` — the campaign's contacts, 50 a page, by
  state: status, attempts, last result, why one is held back (a 230-FZ cap,
  the window, a holiday, do-not-call) and the next attempt in the customer's
  zone; ``…/contacts/{contact}`` edits one (phone, variables), ``…/delete``
  removes it, while the list may change;
* ``/dnc`` — the do-not-call list: add and remove a number with a reason,
  import a CSV/XLSX file.

The roles are the console's (dispatchers and supervisors). Every page that
shows phone numbers is audited with what it showed (``campaign.contacts``
with the page, ``campaign.contact``, ``dnc.view`` with the page), and every
change of the do-not-call list (``dnc.add``, ``dnc.remove``, ``dnc.import``)
— 152-FZ: who read or changed which numbers. A refusal is a 400 page with
its Russian reason (the sub-app's error middleware).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from autoinformer.campaigns import STATUS_TITLES, CampaignError
from autoinformer.lists import CONTACT_STATUS_TITLES, ContactRoster, DoNotCallList
from autoinformer.web import _base, _cid, _db, _svc, staff
from webedge.edge import audit, principal, streams_upload
from webedge.shell import render

__all__ = ["add_list_routes"]

DNC_DEFAULT_REASON = "загружен из файла"


def add_list_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/campaigns/{id}/contacts", contacts_page)
    r.add_get("/campaigns/{id}/contacts/{contact}", contact_form)
    r.add_post("/campaigns/{id}/contacts/{contact}", contact_save)
    r.add_post("/campaigns/{id}/contacts/{contact}/delete", contact_delete)
    r.add_get("/dnc", dnc_page)
    r.add_post("/dnc/add", dnc_add)
    r.add_post("/dnc/remove", dnc_remove)
    r.add_post("/dnc/import", dnc_import)


def _int(value: Any, default: int = 1) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _contact_id(request: web.Request) -> int:
    try:
        return int(request.match_info["contact"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc


def _to_contacts(request: web.Request, cid: int, page: int = 1) -> web.HTTPFound:
    suffix = f"?page={page}" if page > 1 else ""
    return web.HTTPFound(_base(request) + f"campaigns/{cid}/contacts{suffix}")


def _editable(status: str) -> bool:
    return status in ("draft", "approved")


@staff
async def contacts_page(request: web.Request) -> web.Response:
    cid = _cid(request)
    roster = ContactRoster(_svc(request).db)
    status = request.query.get("status", "")
    if status and status not in CONTACT_STATUS_TITLES:
        status = ""
    page_no = _int(request.query.get("page", "1"))
    c = await _db(request, _svc(request).campaigns.get, cid)
    p = await _db(request, lambda: roster.page(cid, page_no, status=status or None))
    await audit(request, "campaign.contacts", f"campaign:{cid}:page:{p.page}")  # phone numbers
    return render(
        request,
        "dispatcher/contacts.html",
        {
            "title": f"Контакты кампании № {cid}",
            "base": _base(request),
            "c": c,
            "status_title": STATUS_TITLES.get(c.status, c.status),
            "status_titles": CONTACT_STATUS_TITLES,
            "status": status,
            "editable": _editable(c.status),
            "p": p,
        },
    )


@staff
async def contact_form(request: web.Request) -> web.Response:
    cid, contact_id = _cid(request), _contact_id(request)
    roster = ContactRoster(_svc(request).db)
    c = await _db(request, _svc(request).campaigns.get, cid)
    if not _editable(c.status):
        raise CampaignError("список запущенной кампании менять нельзя")
    row = await _db(request, roster.get, cid, contact_id)
    fields = await _db(request, roster.fields, cid, contact_id)
    await audit(request, "campaign.contact", f"campaign:{cid}:contact:{contact_id}")
    return render(
        request,
        "dispatcher/contact_edit.html",
        {
            "title": f"Контакт № {contact_id}",
            "base": _base(request),
            "c": c,
            "r": row,
            "fields": fields,
        },
    )


@staff
async def contact_save(request: web.Request) -> web.Response:
    cid, contact_id = _cid(request), _contact_id(request)
    form = await request.post()
    phone = str(form.get("phone") or "")
    variables = {
        str(k)[4:]: str(v) for k, v in form.items() if str(k).startswith("var:") and str(k)[4:]
    }
    roster = ContactRoster(_svc(request).db)
    login = principal(request).login
    await _db(request, lambda: roster.update(cid, contact_id, phone, variables, by=login))
    raise _to_contacts(request, cid)


@staff
async def contact_delete(request: web.Request) -> web.Response:
    cid, contact_id = _cid(request), _contact_id(request)
    form = await request.post()
    roster = ContactRoster(_svc(request).db)
    login = principal(request).login
    await _db(request, lambda: roster.remove(cid, contact_id, by=login))
    raise _to_contacts(request, cid, _int(form.get("page") or 1))


# -- do not call -----------------------------------------------------------------------


async def _dnc_render(request: web.Request, **extra: Any) -> web.Response:
    dnc = DoNotCallList(_svc(request).db)
    page_no = _int(request.query.get("page", "1"))
    p = await _db(request, lambda: dnc.page(page_no))
    await audit(request, "dnc.view", f"page:{p.page}")  # phone numbers (152-FZ)
    return render(
        request,
        "dispatcher/dnc.html",
        {
            "title": "Список «не звонить»",
            "base": _base(request),
            "p": p,
            "result": None,
            **extra,
        },
    )


@staff
async def dnc_page(request: web.Request) -> web.Response:
    return await _dnc_render(request)


def _to_dnc(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound(_base(request) + "dnc")


@staff
async def dnc_add(request: web.Request) -> web.Response:
    form = await request.post()
    dnc = DoNotCallList(_svc(request).db)
    phone, reason = str(form.get("phone") or ""), str(form.get("reason") or "")
    number = await _db(request, dnc.add, phone, reason)
    # Which number: the audit log is the 152-FZ record of who did what with it.
    await audit(request, "dnc.add", f"phone:{number}")
    raise _to_dnc(request)


@staff
async def dnc_remove(request: web.Request) -> web.Response:
    form = await request.post()
    dnc = DoNotCallList(_svc(request).db)
    phone = str(form.get("phone") or "")
    await _db(request, dnc.remove, phone)
    await audit(request, "dnc.remove", f"phone:{phone[:32]}")
    raise _to_dnc(request)


async def read_upload(request: web.Request) -> tuple[bytes, str]:
    """The ``file`` part of a streamed multipart form: (data, file name)."""
    if not request.content_type.startswith("multipart/"):
        raise CampaignError("выберите файл CSV или XLSX")
    data = b""
    filename = ""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if getattr(part, "name", None) == "file":
                filename = getattr(part, "filename", None) or "list.csv"
                data = bytes(await part.read(decode=False))  # type: ignore[union-attr]
    except ValueError as exc:
        raise CampaignError("форма загрузки повреждена: выберите файл ещё раз") from exc
    if not data:
        raise CampaignError("файл не выбран или пуст")
    return data, filename


@staff
@streams_upload
async def dnc_import(request: web.Request) -> web.Response:
    data, filename = await read_upload(request)
    dnc = DoNotCallList(_svc(request).db)
    result = await _db(request, lambda: dnc.import_file(data, filename, DNC_DEFAULT_REASON))
    await audit(request, "dnc.import", f"added:{result.accepted}")
    return await _dnc_render(request, result=result, result_source=filename)
