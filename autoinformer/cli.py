"""``hotline campaign …``: the dispatcher's actions from the command line
(REQ-O1–O3, O10), the same services as the console.

    hotline campaign create --user LOGIN --name "Долги, май" --kind debt [--start ... --end ...]
    hotline campaign import 7 list.xlsx --user LOGIN [--rejected rejected.csv]
    hotline campaign import 7 --debt-over 1000 --user LOGIN   (debtors from the CRM)
    hotline campaign preview 7 --user LOGIN
    hotline campaign submit 7 --user LOGIN  (the dispatcher: for approval)
    hotline campaign approve 7 --user LOGIN (a supervisor; or: refuse 7 --reason TEXT)
    hotline campaign start 7 --user LOGIN   (launch an approved one, resume a paused one)
    hotline campaign pause 7 --user LOGIN | stop 7 --user LOGIN
    hotline campaign report 7 -o report.xlsx --user LOGIN   (or .csv)
    hotline campaign status 7 [--watch] (a progress bar until the campaign ends)
    hotline campaign list

The dialing itself is done by ``hotline run`` (or ``python -m hotline.worker``),
which picks up a running campaign from the database within a second or two.
Errors the user can act on print one line and exit with status 2.

The command line acts as an authenticated user, never as a role it declares
for itself (:mod:`webedge.cli_auth`). Every command that changes a campaign
(create, import, submit, approve, refuse, start, pause, stop) or shows personal data
(preview: the first contact's account and debt; report: phone numbers) needs
``--user LOGIN``; the password is read from ``$HOTLINE_PASSWORD`` or asked for
without echo, and checked like the web log-in's (throttled, a refusal audited).
A wrong password prints one line and exits with status 2, having changed
nothing. The roles are the console's: a dispatcher or a supervisor creates,
imports, launches, pauses and stops; approving is for a supervisor who
neither created nor changed the campaign (four eyes, REQ-O10, decided by
:meth:`CampaignService.approve` from the authenticated user's login and
role). The creator and the editors recorded are the authenticated login.
Preview, report and an import that rejected rows (it lists them: phone
numbers) are written to the audit log (``campaign.preview``,
``campaign.report``, ``campaign.import``; address ``cli``). ``status`` and ``list`` show counts
and names only and need no user.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from webedge.cli_auth import PASSWORD_ENV, CliAuthError, audit_cli, authenticate_cli

__all__ = ["PASSWORD_ENV", "add_campaign_parser", "progress_bar"]

_FINAL = ("completed", "stopped")
_USER_HELP = f"ваш логин (как в веб-консоли); пароль из ${PASSWORD_ENV} или с клавиатуры"
_WHEN = "местное время (часовой пояс центра): ДД.ММ.ГГГГ ЧЧ:ММ или ГГГГ-ММ-ДДTЧЧ:ММ"


def add_campaign_parser(sub: Any) -> None:
    """Register ``campaign`` on the ``hotline`` sub-parsers."""
    c = sub.add_parser(
        "campaign",
        help="кампании автоинформатора (обзвон)",
        description="Кампании автоинформатора: создать, загрузить список, утвердить, "
        "запустить, следить, получить отчёт.",
    )
    csub = c.add_subparsers(
        dest="campaign_cmd", required=True, metavar="ДЕЙСТВИЕ", title="действия"
    )

    cr = csub.add_parser("create", help="создать кампанию (черновик)")
    cr.add_argument("--name", required=True, metavar="НАЗВАНИЕ", help="название кампании")
    cr.add_argument(
        "--kind",
        default="debt",
        choices=["debt", "payment_reminder", "planned_outage", "tariff_change", "custom"],
        help="вид: debt — задолженность, payment_reminder — напоминание об оплате, "
        "planned_outage — плановое отключение, tariff_change — изменение тарифа, "
        "custom — произвольное сообщение (по умолчанию debt)",
    )
    cr.add_argument("--start", metavar="КОГДА", help=f"начало кампании, {_WHEN}")
    cr.add_argument("--end", metavar="КОГДА", help=f"окончание кампании, {_WHEN}")
    cr.add_argument("--max-attempts", type=int, default=3, metavar="N", help="попыток на номер (3)")
    cr.add_argument(
        "--amd",
        choices=["off", "message", "retry"],
        default="off",
        help="автоответчик: off — не распознавать, message — оставить сообщение, "
        "retry — перезвонить позже",
    )
    cr.add_argument("--email", action="store_true", help="также отправить сообщение письмом")
    cr.add_argument(
        "--channels",
        metavar="КАНАЛЫ",
        help="каналы по очереди, например phone,sms,email (первым — способ, выбранный абонентом)",
    )
    cr.add_argument("--no-caps", action="store_true", help="без ограничений частоты 230-ФЗ")
    cr.add_argument("--outage-start", metavar="КОГДА", help=f"начало отключения, {_WHEN}")
    cr.add_argument("--outage-end", metavar="КОГДА", help=f"окончание отключения, {_WHEN}")
    _user(cr, "создатель кампании (не сможет её утвердить)")

    im = csub.add_parser(
        "import",
        help="добавить контакты из файла CSV/XLSX или из CRM",
        description="Список как его готовит офис: заголовки по-русски (Телефон, Лицевой "
        "счёт, Сумма долга, Дата отключения с/по, ФИО, Адрес…), строки заголовка ниже "
        "титульных, даты ДД.ММ.ГГГГ [ЧЧ:ММ], CSV в UTF-8 или Windows-1251 с «;» или «,».",
    )
    im.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
    im.add_argument("file", type=Path, nargs="?", metavar="ФАЙЛ", help="файл CSV или XLSX")
    im.add_argument(
        "--debt-over",
        type=float,
        metavar="СУММА",
        help="вместо файла: лицевые счета CRM с долгом больше СУММЫ",
    )
    im.add_argument(
        "--rejected", type=Path, metavar="ФАЙЛ", help="записать отклонённые строки (CSV)"
    )
    _user(im, "кто меняет список (не сможет утвердить кампанию)")

    pv = csub.add_parser("preview", help="текст сообщения (по данным первого контакта)")
    pv.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
    _user(pv)

    sb = csub.add_parser("submit", help="отправить черновик на утверждение (REQ-O10)")
    sb.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
    _user(sb)

    ap = csub.add_parser(
        "approve",
        help="утвердить кампанию, отправленную на утверждение (руководитель, который её не создавал и не менял, REQ-O10)",
    )
    ap.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
    _user(ap)

    rf = csub.add_parser(
        "refuse", help="вернуть кампанию с утверждения в черновик с причиной (руководитель)"
    )
    rf.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
    rf.add_argument("--reason", required=True, metavar="ПРИЧИНА", help="что нужно исправить")
    _user(rf)

    for name, text in (
        ("start", "запустить утверждённую кампанию или продолжить приостановленную"),
        ("pause", "приостановить идущую кампанию"),
        ("stop", "остановить: новых звонков не будет, ожидающие контакты отменяются"),
    ):
        p = csub.add_parser(name, help=text)
        p.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
        _user(p)

    st = csub.add_parser("status", help="ход кампании")
    st.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
    st.add_argument("--watch", action="store_true", help="следить до конца кампании")
    st.add_argument(
        "--interval", type=float, default=1.0, metavar="С", help="обновлять раз в С секунд"
    )
    st.add_argument(
        "--timeout", type=float, default=0.0, metavar="С", help="перестать следить через С секунд"
    )

    rp = csub.add_parser("report", help="отчёт по кампании (CSV или XLSX)")
    rp.add_argument("id", type=int, metavar="НОМЕР", help="номер кампании")
    rp.add_argument(
        "-o", "--output", type=Path, required=True, metavar="ФАЙЛ", help="файл .csv или .xlsx"
    )
    _user(rp)

    csub.add_parser("list", help="все кампании")
    c.set_defaults(fn=cmd_campaign)


def _user(parser: Any, text: str = "") -> None:
    """``--user LOGIN``: the command acts as this user, after their password."""
    parser.add_argument(
        "--user",
        required=True,
        metavar="ЛОГИН",
        help=f"{text}; {_USER_HELP}" if text else _USER_HELP,
    )
    parser.description = (
        parser.description + " " if parser.description else ""
    ) + f"Действует от имени --user ЛОГИН: пароль из ${PASSWORD_ENV} или с клавиатуры."


def progress_bar(stats: Any, width: int = 30) -> str:
    """One line: ``[#####-----]  45% 45/100 · положительных 12 (27%) · идёт 3 · Идёт обзвон``."""
    from autoinformer.campaigns import STATUS_TITLES

    done = round(width * stats.progress)
    return (
        f"[{'#' * done}{'-' * (width - done)}] {stats.progress:4.0%} "
        f"{stats.finished}/{stats.total} · положительных {stats.positive} "
        f"({stats.positive_rate:.0%}) · идёт {stats.in_flight} · "
        f"{STATUS_TITLES.get(stats.status, stats.status)}"
    )


def _local(value: str | None, tz: str) -> datetime | None:
    """ДД.ММ.ГГГГ [ЧЧ:ММ] or ISO, in ``tz`` unless it says its own zone."""
    if not value:
        return None
    from autoinformer.campaigns import CampaignError
    from autoinformer.tables import CellError, parse_datetime

    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        try:
            dt = parse_datetime(value)
        except CellError as exc:
            raise CampaignError(f"неверная дата: {exc}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))


def _ru_states(message: str) -> str:
    """A campaign's state named in a message by its Russian title
    («running» → «Идёт обзвон»), as ``list`` and ``status`` name it."""
    import re

    from autoinformer.campaigns import STATUS_TITLES

    pattern = r"(?<=[«(: ])(" + "|".join(STATUS_TITLES) + r")(?=[»)])"
    return re.sub(pattern, lambda m: STATUS_TITLES[m.group(1)].lower(), message)


def cmd_campaign(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from autoinformer.campaigns import CampaignError
    from core.settings import from_cli_args

    out = out or sys.stdout
    settings = from_cli_args(args)
    settings.data.mkdir(parents=True, exist_ok=True)
    from sqlalchemy.exc import SQLAlchemyError

    from crm_bridge.db import Database

    try:
        db = Database(settings.db_url)
    except (SQLAlchemyError, ValueError) as exc:
        print(
            f"hotline campaign: неверный адрес базы данных ({type(exc).__name__})", file=sys.stderr
        )
        return 2
    try:
        args.migrate(db)
        return _dispatch(args, db, settings, out)
    except (CampaignError, CliAuthError) as exc:
        print(f"hotline campaign: {_ru_states(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"hotline campaign: файл{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        # The database is down or is not the project's: one line, no secrets.
        print(
            f"hotline campaign: база данных недоступна ({type(exc).__name__})",
            file=sys.stderr,
        )
        return 2
    finally:
        db.dispose()


def _dispatch(args: argparse.Namespace, db: Any, settings: Any, out: TextIO) -> int:
    from autoinformer.campaigns import (
        KIND_TITLES,
        RESULT_TITLES,
        STAFF_ROLES,
        STATUS_TITLES,
        CampaignError,
        CampaignService,
        Kind,
    )
    from autoinformer.contacts import ContactListService, write_rejections_csv

    tz = settings.timezone
    cs = CampaignService(db)
    cmd = args.campaign_cmd
    if cmd == "status":  # counts only: no user needed
        return _status(cs, args, out, RESULT_TITLES)
    if cmd == "list":  # names only
        for c in cs.all():
            print(
                f"{c.id:5d}  {STATUS_TITLES.get(c.status, c.status):16s} "
                f"{KIND_TITLES[Kind(c.kind)]:24s} {c.name}",
                file=out,
            )
        return 0
    # Every other command acts as a person: authenticated first, so a refused
    # user changes nothing and sees nothing. The console's roles; approving is
    # narrower, and the service decides it (a supervisor, four eyes).
    who = authenticate_cli(
        db,
        settings,
        args.user,
        roles=None if cmd in ("approve", "refuse") else STAFF_ROLES,
        doing="работать с кампаниями",
    )
    if cmd == "create":
        options: dict[str, Any] = {
            "max_attempts": args.max_attempts,
            "amd": args.amd,
            "email_enabled": args.email,
        }
        if args.no_caps:
            options["caps_230fz"] = False
        if args.channels:
            options["channels"] = args.channels
        if args.outage_start:
            options["outage_start"] = _local(args.outage_start, tz)
            options["outage_end"] = _local(args.outage_end, tz)
            options["outage_decided_at"] = datetime.now(ZoneInfo(tz))
        cid = cs.create(
            args.name,
            args.kind,
            start_at=_local(args.start, tz),
            end_at=_local(args.end, tz),
            created_by=who.login,
            **options,
        )
        print(f"кампания № {cid} создана (черновик)", file=out)
        print(cid, file=out)
    elif cmd == "import":
        lists = ContactListService(db, tz)
        if args.debt_over is not None:
            res = lists.from_debtors(args.id, args.debt_over, by=who.login)
            source = f"должники с долгом более {args.debt_over:g} ₽"
        elif args.file is None:
            raise CampaignError("укажите файл CSV/XLSX или --debt-over N")
        elif not args.file.is_file():
            raise CampaignError(f"нет файла {args.file}")
        else:
            res = lists.import_file(args.id, args.file.read_bytes(), args.file.name, by=who.login)
            source = args.file.name
        if res.rejected:  # the rejected rows show phone numbers (152-FZ)
            audit_cli(db, settings, who, "campaign.import", f"campaign:{args.id}")
        print(f"загрузка {source}: {res.summary()}", file=out)
        for r in res.rejected[:50]:
            print(f"  строка {r.line}: {r.value!s} — {r.reason}", file=out)
        if len(res.rejected) > 50:
            print(f"  … и ещё {len(res.rejected) - 50}", file=out)
        if args.rejected:
            args.rejected.write_bytes(write_rejections_csv(res.rejected))
            print(f"отклонённые строки: {args.rejected}", file=out)
    elif cmd == "preview":
        text = cs.preview(args.id)  # the first contact's account and debt
        audit_cli(db, settings, who, "campaign.preview", f"campaign:{args.id}")
        print(text, file=out)
    elif cmd == "submit":
        cs.submit(args.id, who.login)
        print(f"кампания № {args.id} отправлена на утверждение", file=out)
    elif cmd == "approve":
        cs.approve(args.id, who.login, who.role.value)
        print(f"кампания № {args.id} утверждена ({who.login})", file=out)
    elif cmd == "refuse":
        cs.refuse(args.id, who.login, who.role.value, args.reason)
        print(f"кампания № {args.id} возвращена на доработку", file=out)
    elif cmd == "start":
        c = cs.get(args.id)
        if c.status == "paused":
            cs.resume(args.id)
            print(f"кампания № {args.id} продолжена", file=out)
        else:
            cs.launch(args.id, who.login)
            print(f"кампания № {args.id} запущена", file=out)
    elif cmd == "pause":
        cs.pause(args.id)
        print(f"кампания № {args.id} приостановлена", file=out)
    elif cmd == "stop":
        cs.stop(args.id)
        print(f"кампания № {args.id} остановлена", file=out)
    elif cmd == "report":
        from autoinformer.reports import csv_report, xlsx_report

        cs.get(args.id)
        suffix = args.output.suffix.lower()
        if suffix == ".xlsx":
            data = xlsx_report(cs, args.id, tz)
        elif suffix == ".csv":
            data = csv_report(cs, args.id, tz)
        else:
            raise CampaignError("отчёт: укажите файл .csv или .xlsx")
        args.output.write_bytes(data)
        audit_cli(db, settings, who, "campaign.report", f"campaign:{args.id}")  # phone numbers
        print(f"отчёт по кампании № {args.id}: {args.output} ({len(data)} байт)", file=out)
    return 0


def _status(cs: Any, args: argparse.Namespace, out: TextIO, titles: dict[str, str]) -> int:
    tty = out.isatty()
    started = time.monotonic()
    last = ""
    while True:
        st = cs.stats(args.id)
        line = progress_bar(st)
        if not args.watch:
            print(line, file=out)
            break
        if line != last:
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=out, flush=True)
            last = line
        if st.status in _FINAL or st.status in ("draft", "submitted", "approved"):
            break
        if args.timeout and time.monotonic() - started > args.timeout:
            if tty:
                print(file=out)
            print("наблюдение прервано по таймауту", file=out)
            return 1
        time.sleep(args.interval)
    if args.watch and tty:
        print(file=out)
    for result, n in sorted(st.final.items(), key=lambda kv: -kv[1]):
        print(f"  {titles.get(result, result)}: {n}", file=out)
    return 0
