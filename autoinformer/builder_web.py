"""The message builder's pages in the dispatcher console (issue 15):

===========================================  ======================================
``GET  campaigns/{id}/message?contact=N``    the steps, the forms to add one, the
                                             preview as text and audio with any contact
``POST campaigns/{id}/steps``                add a step (multipart: a recording may
                                             come with it; CSRF token in the query)
``POST campaigns/{id}/steps/{n}/{op}``       ``remove``, ``up``, ``down``
``POST campaigns/{id}/template``             start again from a kind's template
``GET  campaigns/{id}/message.wav?contact=`` the message of that contact as one WAV
===========================================  ======================================

Thin: parse, call :class:`autoinformer.builder.MessageBuilder`, redirect
back. A refusal (a garbled recording, a value that cannot be said) is the
console's Russian 400 page (:class:`BuilderError` is a ``CampaignError``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from autoinformer.builder import (
    CATALOGUE_GROUPS,
    MAX_UPLOAD_BYTES,
    SAY_KIND_TITLES,
    BuilderError,
    MessageBuilder,
    describe,
    step_from_form,
)
from autoinformer.campaigns import KIND_TITLES, STATUS_TITLES, CampaignError
from autoinformer.preview import message_wav
from autoinformer.web import _base, _cid, _db, _svc, staff
from webedge.edge import audit, principal, streams_upload
from webedge.shell import render

__all__ = ["add_builder_routes"]

CONTACTS_OFFERED = 50
"""Contacts offered for the preview (the first ones; any other by its number)."""


def add_builder_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/campaigns/{id}/message", message_page)
    router.add_get("/campaigns/{id}/message.wav", message_audio)
    router.add_post("/campaigns/{id}/steps", add_step)
    router.add_post("/campaigns/{id}/steps/{n:\\d+}/{op:remove|up|down}", change_step)
    router.add_post("/campaigns/{id}/template", use_template)


def _builder(request: web.Request) -> MessageBuilder:
    svc = _svc(request)
    return MessageBuilder(svc.campaigns, svc.settings.sounds_dir)


def _contact_id(request: web.Request) -> int | None:
    raw = request.query.get("contact", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise CampaignError(f"контакт — номер строки списка, а не «{raw[:20]}»")
    return int(raw)


def _back(request: web.Request, cid: int) -> web.HTTPFound:
    return web.HTTPFound(_base(request) + f"campaigns/{cid}/message")


def _catalogue() -> Any:
    from ivr.prompts import PromptCatalogue

    return PromptCatalogue.load()


@staff
async def message_page(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    service = svc.campaigns
    contact_id = _contact_id(request)
    c = await _db(request, service.get, cid)
    contact = await _db(request, service.contact, cid, contact_id)
    preview = await _db(request, service.preview, cid, contact.id if contact else None)
    contacts = await _db(request, lambda: service.contacts(cid)[:CONTACTS_OFFERED])
    catalogue = _catalogue()
    phrases = [
        (pid, catalogue.text(pid))
        for pid in catalogue.ids()
        if pid.split("/", 1)[0] in CATALOGUE_GROUPS
    ]
    # The preview shows a contact's data (account, debt).
    await audit(request, "campaign.preview", f"campaign:{cid}")
    return render(
        request,
        "dispatcher/message.html",
        {
            "title": f"Сообщение кампании № {cid}",
            "base": _base(request),
            "c": c,
            "kind_title": KIND_TITLES.get(c.kind, c.kind),
            "status_title": STATUS_TITLES.get(c.status, c.status),
            "editable": c.status in ("draft", "submitted", "approved"),
            "steps": [(i, describe(step, catalogue.text)) for i, step in enumerate(c.scenario)],
            "phrases": phrases,
            "say_kinds": list(SAY_KIND_TITLES.items()),
            "templates": [(k.value, t) for k, t in KIND_TITLES.items()],
            "preview": preview,
            "contacts": contacts,
            "contact": contact,
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        },
    )


@staff
async def message_audio(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    contact_id = _contact_id(request)
    data = await _db(request, message_wav, svc.campaigns, svc.resolver, cid, contact_id)
    await audit(request, "campaign.preview", f"campaign:{cid}")
    return web.Response(body=data, content_type="audio/wav")


@staff
@streams_upload
async def add_step(request: web.Request) -> web.Response:
    """The add-step form: multipart (a recording may come with it)."""
    cid = _cid(request)
    if not request.content_type.startswith("multipart/"):
        raise BuilderError("форма шага должна отправляться как multipart/form-data")
    fields: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None) or ""
            if name == "file":
                filename = getattr(part, "filename", None) or ""
                data = bytearray()
                while chunk := await part.read_chunk():  # type: ignore[union-attr]
                    data += chunk
                    if len(data) > MAX_UPLOAD_BYTES:
                        raise BuilderError(f"файл больше {MAX_UPLOAD_BYTES // (1024 * 1024)} МБ")
                if filename and data:
                    upload = (filename, bytes(data))
            elif name:
                fields[name] = (await part.text())[:2000]  # type: ignore[union-attr]
    except ValueError as exc:
        raise BuilderError("форма повреждена: заполните её ещё раз") from exc
    builder = _builder(request)
    login = principal(request).login
    audio_id: str | None = None
    if upload is not None and fields.get("type") in ("audio", "question"):
        filename, content = upload
        uploaded = await _db(request, lambda: builder.upload(cid, content, filename, by=login))
        audio_id = uploaded.prompt_id
        fields.setdefault("title", filename)
    step = step_from_form(fields, audio_id=audio_id)
    at = int(fields["at"]) - 1 if fields.get("at", "").isdigit() else None
    await _db(request, lambda: builder.add(cid, step, by=login, at=at))
    raise _back(request, cid)


@staff
async def change_step(request: web.Request) -> web.Response:
    cid = _cid(request)
    n = int(request.match_info["n"])
    op = request.match_info["op"]
    builder = _builder(request)
    login = principal(request).login
    if op == "remove":
        await _db(request, lambda: builder.remove(cid, n, by=login))
    else:
        await _db(request, lambda: builder.move(cid, n, -1 if op == "up" else 1, by=login))
    raise _back(request, cid)


@staff
async def use_template(request: web.Request) -> web.Response:
    cid = _cid(request)
    form = await request.post()
    builder = _builder(request)
    login = principal(request).login
    kind = str(form.get("kind") or "")
    await _db(request, lambda: builder.use_template(cid, kind, by=login))
    raise _back(request, cid)
