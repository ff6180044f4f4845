"""``hotline outages …``: the API clients of the outage register.

* ``client add NAME`` — a new client (the grid company's dispatch system);
  its token is printed once and kept only as a hash;
* ``client list`` — the clients (no tokens);
* ``client revoke NAME`` — the token stops working at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from crm_bridge.db import Database
    from outages.register import OutageRegister

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "outages",
        help="реестр отключений: клиенты API",
        description="Реестр отключений: клиенты его API (диспетчерская система сетевой "
        "компании) и их токены.",
    )
    commands = parser.add_subparsers(
        dest="outages_command", required=True, metavar="ДЕЙСТВИЕ", title="действия"
    )
    client = commands.add_parser("client", help="клиенты API реестра отключений")
    actions = client.add_subparsers(
        dest="client_command", required=True, metavar="ДЕЙСТВИЕ", title="действия"
    )
    add = actions.add_parser("add", help="новый клиент; его токен печатается один раз")
    add.add_argument("name", metavar="ИМЯ", help="латинские буквы, цифры, . _ -")
    add.set_defaults(fn=cmd_client_add)
    ls = actions.add_parser("list", help="клиенты (без токенов)")
    ls.set_defaults(fn=cmd_client_list)
    revoke = actions.add_parser("revoke", help="отозвать токен клиента (сразу перестаёт работать)")
    revoke.add_argument("name", metavar="ИМЯ", help="имя клиента")
    revoke.set_defaults(fn=cmd_client_revoke)


def _register(args: argparse.Namespace) -> tuple[Database, OutageRegister]:
    from core.settings import from_cli_args
    from crm_bridge.db import Database
    from outages.register import OutageRegister

    settings = from_cli_args(args)
    settings.data.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    args.migrate(db)
    return db, OutageRegister(db)


def cmd_client_add(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from outages.register import OutageInputError

    out = out or sys.stdout
    db, register = _register(args)
    try:
        client, token = register.add_client(args.name)
    except OutageInputError as exc:
        print(f"hotline outages client add: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(
        f"Клиент {client.name} добавлен; его токен (показан один раз, храните в тайне):", file=out
    )
    print(token, file=out)
    return 0


def cmd_client_list(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    db, register = _register(args)
    try:
        clients = register.clients()
    finally:
        db.dispose()
    for c in clients:
        state = f"отозван {c.revoked_at:%d.%m.%Y %H:%M}" if c.revoked_at else "действует"
        used = (
            f"последнее обращение {c.last_used_at:%d.%m.%Y %H:%M}"
            if c.last_used_at
            else "не обращался"
        )
        print(f"{c.name}\t{state}\t{used}", file=out)
    if not clients:
        print("клиентов нет", file=out)
    return 0


def cmd_client_revoke(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    db, register = _register(args)
    try:
        done = register.revoke_client(args.name)
    finally:
        db.dispose()
    if not done:
        print(
            f"hotline outages client revoke: нет действующего клиента {args.name}", file=sys.stderr
        )
        return 2
    print(f"Токен клиента {args.name} отозван", file=out)
    return 0
