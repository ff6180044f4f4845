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
    p = sub.add_parser("operators", help="staff (operators, supervisors, dispatchers) and phones")
    p.add_argument("action", choices=["add", "phone", "list"])
    p.add_argument("login", nargs="?")
    p.add_argument("--name", help="add: full name (Russian)")
    p.add_argument("--role", default="operator", choices=["operator", "supervisor", "dispatcher"])
    p.add_argument(
        "--phone",
        nargs="?",
        const="",
        default=None,
        metavar="ENDPOINT",
        help="add: give a SIP phone too (endpoint name, default op<id+100>)",
    )
    p.add_argument("--endpoint", help="phone: the endpoint name (default: the current one)")
    p.add_argument(
        "--queue",
        help="add/phone: the queue the person serves (e.g. specialists; default: first line)",
    )
    p.set_defaults(fn=cmd_operators)


def cmd_operators(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from sqlalchemy import select

    from core.settings import from_cli_args
    from crm_bridge.db import Database
    from crm_bridge.models import Operator, OperatorRole
    from crm_bridge.passwords import hash_password
    from shift.phones import issue_phone

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
                    print(f"{op.login}\t{op.role.value}\t{phone}\t{op.name}{state}", file=out)
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
