"""The dispatcher console (REQ-O1–O4, O10): an aiohttp sub-app at /dispatcher/.

Log-in with a crm_bridge ``Operator`` whose role is supervisor/dispatcher/head
(a supervisor or head approves, REQ-O10). Pages in Russian: campaigns, create,
import a list (CSV/XLSX) with the rejected-rows report, build from the CRM,
preview, approve, launch, pause, resume, stop; live monitoring over a
WebSocket (lines in use, calls in progress, progress, results, positive-call
rate, ETA); reports as CSV/XLSX and an inline SVG chart.

Handlers are thin: they parse, call one service (through ``run_db``) and format.
:class:`CampaignError` becomes a 400 with its Russian message, once, here.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import secrets
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web
from sqlalchemy import select

from autoinformer.campaigns import (
    KIND_TITLES,
    RESULT_TITLES,
    STATUS_TITLES,
    CampaignError,
    CampaignService,
    Kind,
    NotAllowed,
)
from autoinformer.contacts import ContactListService
from autoinformer.models import ContactImport
from autoinformer.monitor import Monitor
from autoinformer.reports import csv_report, svg_chart, xlsx_report

log = logging.getLogger(__name__)

__all__ = ["LOGIN_ROLES", "create_dispatcher_app"]

LOGIN_ROLES = frozenset({"supervisor", "dispatcher", "head"})
COOKIE = "hotline_dispatcher"
SERVICES = web.AppKey("ai_services", object)
RUNTIME = web.AppKey("ai_runtime", object)
SESSIONS = web.AppKey("ai_sessions", dict)
USER = web.RequestKey("ai_user", dict)


def create_dispatcher_app(services: Any, runtime: Any = None) -> web.Application:
    app = web.Application(middlewares=[_errors, _auth])
    app[SERVICES] = services
    app[RUNTIME] = runtime
    app[SESSIONS] = {}
    r = app.router
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/", index)
    r.add_post("/campaigns", create)
    r.add_get("/campaigns/{id}", campaign_page)
    r.add_post("/campaigns/{id}/import", import_list)
    r.add_post("/campaigns/{id}/from-debtors", from_debtors)
    r.add_post("/campaigns/{id}/from-addresses", from_addresses)
    r.add_post("/campaigns/{id}/{action:approve|launch|pause|resume|stop}", action)
    r.add_get("/campaigns/{id}/stats", stats_json)
    r.add_get("/campaigns/{id}/preview.wav", preview_audio)
    r.add_get("/campaigns/{id}/report.csv", report_csv)
    r.add_get("/campaigns/{id}/report.xlsx", report_xlsx)
    r.add_get("/ws", monitor_ws)
    return app


# -- middlewares ---------------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotAllowed as exc:
        return _page("Недостаточно прав", f"<p class=error>{html.escape(str(exc))}</p>", 403)
    except CampaignError as exc:
        return _page(
            "Ошибка",
            f"<p class=error>{html.escape(str(exc))}</p>"
            '<p><a href="javascript:history.back()">Назад</a></p>',
            400,
        )


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.endswith("/login"):
        return await handler(request)
    user = request.app[SESSIONS].get(request.cookies.get(COOKIE, ""))
    if user is None:
        if request.path.endswith("/ws") or request.method != "GET":
            raise web.HTTPUnauthorized(text="нужен вход")
        raise web.HTTPFound(_base(request) + "login")
    request[USER] = user
    return await handler(request)


def _base(request: web.Request) -> str:
    path = request.path
    idx = path.find("/dispatcher/")
    return path[: idx + len("/dispatcher/")] if idx >= 0 else "/"


def _svc(request: web.Request) -> Any:
    return request.app[SERVICES]


async def _db(request: web.Request, fn: Any, *args: Any) -> Any:
    return await _svc(request).run_db(fn, *args)


# -- pages -----------------------------------------------------------------------------

_STYLE = """
body{font-family:sans-serif;margin:1.5em;max-width:1100px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.error{color:#b00}.counters span{display:inline-block;margin-right:1.5em}
.counters b{font-size:1.4em}form.inline{display:inline}button{margin:2px}
progress{width:300px}
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        "<!doctype html><html lang=ru><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=doc, content_type="text/html", status=status)


async def login_page(request: web.Request) -> web.Response:
    err = request.query.get("e")
    msg = "<p class=error>Неверный логин или пароль, или нет прав диспетчера</p>" if err else ""
    return _page(
        "Пульт диспетчера: вход",
        msg + '<form method=post action="login"><p>Логин <input name=login autofocus></p>'
        "<p>Пароль <input name=password type=password></p><button>Войти</button></form>",
    )


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    login_name = str(form.get("login", ""))
    password = str(form.get("password", ""))
    user = await _db(request, _check_login, _svc(request).db, login_name, password)
    if user is None:
        raise web.HTTPFound(_base(request) + "login?e=1")
    token = secrets.token_urlsafe(24)
    request.app[SESSIONS][token] = user
    resp = web.HTTPFound(_base(request))
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
    raise resp


def _check_login(db: Any, login_name: str, password: str) -> dict[str, str] | None:
    from crm_bridge.passwords import authenticate

    with db.session(readonly=True) as s:
        op = authenticate(s, login_name, password)
        if op is None:
            return None
        role = str(getattr(op.role, "value", op.role))
        if role not in LOGIN_ROLES:
            return None
        return {"login": op.login, "name": op.name, "role": role}


async def logout(request: web.Request) -> web.Response:
    request.app[SESSIONS].pop(request.cookies.get(COOKIE, ""), None)
    raise web.HTTPFound(_base(request) + "login")


def _fmt(dt: datetime | None, tz: str) -> str:
    return dt.astimezone(ZoneInfo(tz)).strftime("%d.%m.%Y %H:%M") if dt else "—"


async def index(request: web.Request) -> web.Response:
    service = CampaignService(_svc(request).db)
    tz = _svc(request).settings.timezone
    campaigns = await _db(request, service.all)
    user = request[USER]
    rows = "".join(
        f'<tr><td><a href="campaigns/{c.id}">{c.id}</a></td><td>{html.escape(c.name)}</td>'
        f"<td>{KIND_TITLES[Kind(c.kind)]}</td><td>{STATUS_TITLES.get(c.status, c.status)}</td>"
        f"<td>{_fmt(c.start_at, tz)} — {_fmt(c.end_at, tz)}</td></tr>"
        for c in campaigns
    )
    kinds = "".join(f'<option value="{k.value}">{k.label}</option>' for k in Kind)
    body = (
        f"<p>Вы вошли как {html.escape(user['name'])} ({html.escape(user['role'])}). "
        '<form class=inline method=post action="logout"><button>Выйти</button></form></p>'
        "<h2>Кампании</h2><table><tr><th>№</th><th>Название</th><th>Вид</th><th>Состояние</th>"
        f"<th>Период</th></tr>{rows}</table>"
        '<h2>Новая кампания</h2><form method=post action="campaigns">'
        "<p>Название <input name=name required></p>"
        f"<p>Вид <select name=kind>{kinds}</select></p>"
        f"<p>Начало <input name=start type=datetime-local> окончание <input name=end type=datetime-local> ({html.escape(tz)})</p>"
        "<p>Попыток <input name=max_attempts type=number value=3 min=1 max=10> "
        "Автоответчик <select name=amd><option value=off>не определять</option>"
        "<option value=message>оставить сообщение</option><option value=retry>перезвонить</option></select> "
        "<label><input type=checkbox name=email_enabled value=1> и по эл. почте</label></p>"
        "<p>Плановое отключение: с <input name=outage_start type=datetime-local> "
        "по <input name=outage_end type=datetime-local></p>"
        "<button id=create>Создать</button></form>"
    )
    return _page("Пульт диспетчера автоинформатора", body)


def _local(value: str, tz: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(tz))
    except ValueError as exc:
        raise CampaignError(f"неверная дата: {value}") from exc


async def create(request: web.Request) -> web.Response:
    form = await request.post()
    tz = _svc(request).settings.timezone
    service = CampaignService(_svc(request).db)
    options: dict[str, Any] = {
        "max_attempts": int(str(form.get("max_attempts") or 3)),
        "amd": str(form.get("amd") or "off"),
        "email_enabled": bool(form.get("email_enabled")),
        "outage_start": _local(str(form.get("outage_start") or ""), tz),
        "outage_end": _local(str(form.get("outage_end") or ""), tz),
    }
    if options["outage_start"] is not None:
        options["outage_decided_at"] = datetime.now(ZoneInfo(tz))
    cid = await _db(
        request,
        lambda: service.create(
            str(form.get("name", "")),
            str(form.get("kind", "debt")),
            start_at=_local(str(form.get("start") or ""), tz),
            end_at=_local(str(form.get("end") or ""), tz),
            created_by=request[USER]["login"],
            **options,
        ),
    )
    raise web.HTTPFound(_base(request) + f"campaigns/{cid}")


def _cid(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc


def _last_import(db: Any, cid: int) -> ContactImport | None:
    with db.session(readonly=True) as s:
        return s.scalars(
            select(ContactImport)
            .where(ContactImport.campaign_id == cid)
            .order_by(ContactImport.id.desc())
            .limit(1)
        ).first()


async def campaign_page(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    service = CampaignService(svc.db)
    tz = svc.settings.timezone
    c = await _db(request, service.get, cid)
    st = await _db(request, service.stats, cid)
    preview = await _db(request, service.preview, cid)
    imp = await _db(request, _last_import, svc.db, cid)
    timeline = await _db(request, lambda: service.timeline(cid, tz=tz))
    report = ""
    if imp is not None:
        rej = "".join(
            f"<tr><td>{r['line']}</td><td>{html.escape(str(r['value']))}</td>"
            f"<td>{html.escape(r['reason'])}</td></tr>"
            for r in imp.report[:200]
        )
        report = (
            f"<p id=import-summary>Загрузка «{html.escape(imp.source)}»: принято {imp.accepted}, "
            f"отклонено {imp.rejected}</p>"
            + (
                f"<table id=rejected><tr><th>Строка</th><th>Значение</th><th>Причина</th></tr>{rej}</table>"
                if rej
                else ""
            )
        )
    buttons = "".join(
        f'<form class=inline method=post action="{cid}/{a}"><button id="{a}">{t}</button></form>'
        for a, t, ok in (
            ("approve", "Утвердить", c.status == "draft"),
            ("launch", "Запустить", c.status == "approved"),
            ("pause", "Приостановить", c.status == "running"),
            ("resume", "Продолжить", c.status == "paused"),
            ("stop", "Остановить", c.status in ("running", "paused", "approved", "draft")),
        )
        if ok
    )
    approved = (
        f"<p>Утвердил: {html.escape(c.approved_by)} {_fmt(c.approved_at, tz)}</p>"
        if c.approved_by
        else ""
    )
    editable = c.status in ("draft", "approved")
    lists = (
        (
            f'<h2>Список контактов</h2><form method=post action="{cid}/import" enctype="multipart/form-data">'
            "Файл CSV/XLSX <input type=file name=file id=file accept=.csv,.xlsx required> "
            "<button id=upload>Загрузить</button></form>"
            f'<form method=post action="{cid}/from-debtors">Должники с долгом более '
            "<input name=min_debt type=number value=1000> ₽ <button>Добавить из CRM</button></form>"
            f'<form method=post action="{cid}/from-addresses">Адреса отключения (по одному в строке)<br>'
            "<textarea name=addresses rows=3 cols=60></textarea><br><button>Добавить жителей</button></form>"
        )
        if editable
        else ""
    )
    body = (
        '<p><a href="../">← все кампании</a></p>'
        f"<p>{html.escape(c.name)} — {KIND_TITLES[Kind(c.kind)]}; состояние: "
        f"<b id=status>{STATUS_TITLES.get(c.status, c.status)}</b>; период {_fmt(c.start_at, tz)} — {_fmt(c.end_at, tz)}</p>"
        f"{approved}<p>{buttons}</p>"
        f"<h2>Текст сообщения</h2><p id=preview>{html.escape(preview)}</p>"
        f'<p>Прослушать: <audio id=preview-audio controls preload=none src="{cid}/preview.wav">'
        "</audio></p>"
        f"{lists}{report}"
        "<h2>Ход обзвона</h2><div class=counters>"
        f"<span>Линий занято <b id=lines>0</b></span>"
        f"<span>Звонков идёт <b id=in_flight>{st.in_flight}</b></span>"
        f"<span>Всего <b id=total>{st.total}</b></span>"
        f"<span>Завершено <b id=finished>{st.finished}</b></span>"
        f"<span>Положительных <b id=positive>{st.positive}</b></span>"
        f"<span>Доля положительных <b id=rate>{st.positive_rate:.0%}</b></span>"
        f"<span>Осталось <b id=eta>—</b></span></div>"
        f"<p><progress id=progress max=1 value={st.progress}></progress></p>"
        "<table id=results><tr><th>Результат</th><th>Попыток</th></tr></table>"
        "<table id=calls><tr><th>Попытка</th><th>Состояние</th><th>Сек.</th></tr></table>"
        f'<h2>Отчёт</h2><p><a id=report-csv href="{cid}/report.csv">CSV</a> · '
        f'<a id=report-xlsx href="{cid}/report.xlsx">XLSX с диаграммами</a></p>'
        f"<div>{svg_chart(timeline)}</div>"
        f"<script>{_monitor_js(cid)}</script>"
    )
    return _page(f"Кампания № {cid}", body)


def _monitor_js(cid: int) -> str:
    titles = json.dumps(RESULT_TITLES, ensure_ascii=False)
    statuses = json.dumps(STATUS_TITLES, ensure_ascii=False)
    return (
        f"const CID={cid}, TITLES={titles}, STATUSES={statuses};"
        """
function fmtEta(s){if(s==null)return '—';s=Math.round(s);return Math.floor(s/60)+' мин '+(s%60)+' с';}
function render(m){
  const st=m.stats; const set=(id,v)=>{document.getElementById(id).textContent=v;};
  set('lines', m.lines_in_use+' из '+m.lines_limit); set('in_flight', st.in_flight);
  set('total', st.total); set('finished', st.finished); set('positive', st.positive);
  set('rate', Math.round(st.positive_rate*100)+'%'); set('eta', fmtEta(m.eta_seconds));
  set('status', STATUSES[st.status]||st.status);
  document.getElementById('progress').value=st.progress;
  const rt=document.getElementById('results');
  rt.innerHTML='<tr><th>Результат</th><th>Попыток</th></tr>'+Object.entries(st.results)
    .map(([k,v])=>'<tr><td>'+(TITLES[k]||k)+'</td><td data-result="'+k+'">'+v+'</td></tr>').join('');
  const ct=document.getElementById('calls');
  ct.innerHTML='<tr><th>Попытка</th><th>Состояние</th><th>Сек.</th></tr>'+m.calls
    .map(c=>'<tr><td>'+c.attempt_id+'</td><td>'+c.state+'</td><td>'+c.seconds+'</td></tr>').join('');
  window.lastMonitor=m;
}
function connect(){
  const proto=location.protocol==='https:'?'wss':'ws';
  const base=location.pathname.replace(/campaigns\\/.*$/,'');
  const ws=new WebSocket(proto+'://'+location.host+base+'ws?campaign='+CID);
  ws.onmessage=e=>render(JSON.parse(e.data));
  ws.onclose=()=>setTimeout(connect,1000);
}
connect();
"""
    )


async def import_list(request: web.Request) -> web.Response:
    cid = _cid(request)
    reader = await request.multipart()
    data = b""
    filename = ""
    while (part := await reader.next()) is not None:
        if getattr(part, "name", None) == "file":
            filename = getattr(part, "filename", None) or "list.csv"
            data = await part.read(decode=False)  # type: ignore[union-attr]
    if not data:
        raise CampaignError("файл не выбран или пуст")
    svc = _svc(request)
    lists = ContactListService(svc.db, svc.settings.timezone)
    await _db(request, lists.import_file, cid, bytes(data), filename)
    raise web.HTTPFound(_base(request) + f"campaigns/{cid}")


async def from_debtors(request: web.Request) -> web.Response:
    cid = _cid(request)
    form = await request.post()
    try:
        min_debt = float(str(form.get("min_debt") or 0))
    except ValueError as exc:
        raise CampaignError("сумма долга — число") from exc
    svc = _svc(request)
    await _db(
        request, ContactListService(svc.db, svc.settings.timezone).from_debtors, cid, min_debt
    )
    raise web.HTTPFound(_base(request) + f"campaigns/{cid}")


async def from_addresses(request: web.Request) -> web.Response:
    cid = _cid(request)
    form = await request.post()
    lines = [x.strip() for x in str(form.get("addresses") or "").splitlines() if x.strip()]
    svc = _svc(request)
    await _db(request, ContactListService(svc.db, svc.settings.timezone).from_addresses, cid, lines)
    raise web.HTTPFound(_base(request) + f"campaigns/{cid}")


async def action(request: web.Request) -> web.Response:
    cid = _cid(request)
    what = request.match_info["action"]
    service = CampaignService(_svc(request).db)
    user = request[USER]
    if what == "approve":
        await _db(request, service.approve, cid, user["login"], user["role"])
    elif what == "launch":
        await _db(request, service.launch, cid, user["login"])
        _after_launch(request, cid)
    else:
        await _db(request, getattr(service, what), cid)
        if what == "resume":
            _after_launch(request, cid)
    raise web.HTTPFound(_base(request) + f"campaigns/{cid}")


def _after_launch(request: web.Request, cid: int) -> None:
    svc = _svc(request)
    dialer = svc.extras.get("dialer")
    if dialer is not None:
        dialer.poke()
    Monitor.of(svc).publish({"type": "campaign", "campaign_id": cid, "ts": time.time()})
    runtime = request.app[RUNTIME]
    email = svc.extras.get("email_sender")
    if email is not None and runtime is not None:
        email.poke()


async def snapshot(request: web.Request, cid: int) -> dict[str, Any]:
    svc = _svc(request)
    service = CampaignService(svc.db)
    st = await svc.run_db(service.stats, cid)
    c = await svc.run_db(service.get, cid)
    dialer = svc.extras.get("dialer")
    calls = [x for x in dialer.calls() if x["campaign_id"] == cid] if dialer else []
    monitor = Monitor.of(svc)
    in_use = sum(u for u, _ in monitor.lines.values()) if monitor.lines else 0
    limit = sum(lim for _, lim in monitor.lines.values()) if monitor.lines else 0
    if dialer is not None:
        in_use, limit = dialer.in_flight, dialer.lines
    eta: float | None = None
    if c.launched_at is not None and st.finished and st.status == "running":
        elapsed = max(1.0, time.time() - c.launched_at.timestamp())
        eta = (st.total - st.finished) / (st.finished / elapsed)
    elif st.status == "completed":
        eta = 0.0
    return {
        "type": "snapshot",
        "campaign_id": cid,
        "stats": st.as_dict(),
        "lines_in_use": in_use,
        "lines_limit": limit,
        "calls": calls[:100],
        "eta_seconds": eta,
    }


def message_wav(services: Any, campaign_id: int) -> bytes:
    """The message of the campaign's first contact as one WAV: the same files
    Asterisk plays, in the same order (blocking)."""
    import io
    import wave

    from autoinformer.campaigns import step_tokens

    service = CampaignService(services.db)
    c = service.get(campaign_id)
    contacts = service.contacts(campaign_id)
    contact = contacts[0] if contacts else None
    variables = dict(contact.variables) if contact else {}
    tz = contact.timezone if contact else None
    resolver = services.resolver
    names: list[str] = []
    for step in c.scenario:
        if "prompt" in step:
            names.append(resolver.prompt(step["prompt"]))
        else:
            try:
                tokens = step_tokens(step["say"], variables.get(step["var"]), tz)
            except (ValueError, TypeError):
                continue
            names.extend(resolver.tokens(tokens))
    out = io.BytesIO()
    params: Any = None
    with wave.open(out, "wb") as w:
        for name in names:
            path = resolver.host_file(name)
            if path is None or path.suffix != ".wav":
                continue
            with wave.open(str(path), "rb") as r:
                if params is None:
                    params = r.getparams()
                    w.setparams(params)
                elif (r.getnchannels(), r.getsampwidth(), r.getframerate()) != (
                    params.nchannels,
                    params.sampwidth,
                    params.framerate,
                ):
                    continue
                w.writeframes(r.readframes(r.getnframes()))
        if params is None:
            raise CampaignError("звукозаписи сообщения не найдены (hotline prompts generate)")
    return out.getvalue()


async def preview_audio(request: web.Request) -> web.Response:
    data = await _db(request, message_wav, _svc(request), _cid(request))
    return web.Response(body=data, content_type="audio/wav")


async def stats_json(request: web.Request) -> web.Response:
    return web.json_response(await snapshot(request, _cid(request)))


async def monitor_ws(request: web.Request) -> web.WebSocketResponse:
    """Pushes a snapshot at once, then after every monitor event of the
    campaign (coalesced for 50 ms), and at least every 2 s. ``event_ts`` is
    the time of the newest event included (latency measurement)."""
    try:
        cid = int(request.query.get("campaign", ""))
    except ValueError as exc:
        raise web.HTTPBadRequest(text="campaign?") from exc
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    monitor = Monitor.of(_svc(request))
    async with monitor.subscribe() as queue:
        reader = asyncio.create_task(_drain(ws))
        try:
            await ws.send_json({**await snapshot(request, cid), "event_ts": None})
            while not ws.closed and not reader.done():
                event_ts: float | None = None
                try:
                    ev = await asyncio.wait_for(queue.get(), 2.0)
                except TimeoutError:
                    ev = None
                if ev is not None:
                    if ev.get("campaign_id") != cid:
                        continue
                    event_ts = ev.get("ts")
                    await asyncio.sleep(0.05)
                    while not queue.empty():
                        more = queue.get_nowait()
                        if more.get("campaign_id") == cid:
                            event_ts = more.get("ts", event_ts)
                await ws.send_json({**await snapshot(request, cid), "event_ts": event_ts})
        except (ConnectionResetError, RuntimeError):
            log.debug("monitor socket closed")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


async def report_csv(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    data = await _db(request, csv_report, CampaignService(svc.db), cid, svc.settings.timezone)
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{cid}.csv"'},
    )


async def report_xlsx(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    data = await _db(request, xlsx_report, CampaignService(svc.db), cid, svc.settings.timezone)
    return web.Response(
        body=data,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="campaign-{cid}.xlsx"'},
    )
