"""``hotline operators …``: the staff and their phones, for the node's
administrator (issue 12).

* ``add LOGIN --name "…" [--role operator] [--phone [ENDPOINT]]`` — a new
  member of staff with a generated web password and, with ``--phone``, a SIP
  phone with a generated password; both are printed once and stored only as
  hashes;
* ``phone LOGIN [--endpoint op105]`` — a (new) phone password;
* ``list`` — who has which role and phone.

A phone change is applied to Asterisk with ``args.apply_asterisk(settings)``
(the composition root's: re-render and reload a running instance).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import TextIO

__all__ = ["add_operators_parser", "cmd_operators"]


def add_operators_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "operators",
        help="сотрудники (операторы, старшие смены, диспетчеры) и их SIP-телефоны",
        description="Сотрудники и их телефоны: пароли создаются и показываются один раз, "
        "хранятся только в виде хешей.",
    )
    p.add_argument(
        "action",
        choices=["add", "phone", "list"],
        help="add — добавить сотрудника, phone — (новый) пароль SIP-телефона, list — список",
    )
    p.add_argument("login", nargs="?", metavar="ЛОГИН", help="логин сотрудника (для add и phone)")
    p.add_argument("--name", metavar="ФИО", help="add: полное имя")
    p.add_argument(
        "--role",
        default="operator",
        choices=["operator", "supervisor", "dispatcher"],
        help="add: роль — operator (оператор, по умолчанию), supervisor (старший смены), "
        "dispatcher (диспетчер)",
    )
    p.add_argument(
        "--phone",
        nargs="?",
        const="",
        default=None,
        metavar="ТЕЛЕФОН",
        help="add: выдать и SIP-телефон (имя endpoint, по умолчанию op<id+100>)",
    )
    p.add_argument(
        "--endpoint", metavar="ТЕЛЕФОН", help="phone: имя endpoint (по умолчанию нынешнее)"
    )
    p.add_argument(
        "--queue",
        metavar="ОЧЕРЕДЬ",
        help="add/phone: очередь, которую обслуживает сотрудник (например, specialists; "
        "по умолчанию первая линия)",
    )
    p.set_defaults(fn=cmd_operators)


def cmd_operators(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from sqlalchemy import select

    from core.settings import from_cli_args
    from crm_bridge.db import Database
    from crm_bridge.models import Operator, OperatorRole
    from crm_bridge.passwords import hash_password
    from shift.phones import issue_phone
    from webedge.shell import ROLE_TITLES

    out = out or sys.stdout
    settings = from_cli_args(args)
    settings.data.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    try:
        args.migrate(db)
        if args.action == "list":
            with db.session() as session:
                for op in session.scalars(select(Operator).order_by(Operator.login)):
                    state = "" if op.active else " (отключён)"
                    phone = op.pjsip_endpoint or "—"
                    role = ROLE_TITLES.get(op.role, op.role.value)
                    print(f"{op.login}\t{role}\t{phone}\t{op.name}{state}", file=out)
            return 0
        if not args.login:
            print("hotline operators: укажите логин", file=sys.stderr)
            return 2
        if args.action == "add":
            if not args.name:
                print("hotline operators add: укажите --name", file=sys.stderr)
                return 2
            password = secrets.token_urlsafe(12)
            with db.session(write=True) as session:
                if session.scalar(select(Operator.id).where(Operator.login == args.login)):
                    print(f"hotline operators: логин «{args.login}» уже занят", file=sys.stderr)
                    return 2
                session.add(
                    Operator(
                        login=args.login,
                        name=args.name,
                        role=OperatorRole(args.role),
                        password_hash=hash_password(password),
                    )
                )
            print(f"Сотрудник {args.login} добавлен.", file=out)
            print(f"  пароль для входа на страницы: {password} (показан один раз)", file=out)
            if args.phone is None:
                return 0
            endpoint = args.phone or None
        else:
            endpoint = args.endpoint
        try:
            creds = issue_phone(db, args.login, endpoint, queue=args.queue)
        except ValueError as exc:
            print(f"hotline operators: {exc}", file=sys.stderr)
            return 2
        for line in creds.lines(settings.sip_host, settings.sip_port):
            print(line, file=out)
        print(args.apply_asterisk(settings), file=out)
        return 0
    finally:
        db.dispose()
