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
    parser = sub.add_parser("outages", help="the outage register: API clients")
    commands = parser.add_subparsers(dest="outages_command", required=True)
    client = commands.add_parser("client", help="clients of the outage API")
    actions = client.add_subparsers(dest="client_command", required=True)
    add = actions.add_parser("add", help="a new client; prints its token once")
    add.add_argument("name", help="latin letters, digits, . _ -")
    add.set_defaults(fn=cmd_client_add)
    ls = actions.add_parser("list", help="the clients")
    ls.set_defaults(fn=cmd_client_list)
    revoke = actions.add_parser("revoke", help="revoke a client's token")
    revoke.add_argument("name")
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
        print(f"ошибка: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"client {client.name} added; its token (shown once, keep it secret):", file=out)
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
        state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active"
        used = f"last used {c.last_used_at:%Y-%m-%d %H:%M}" if c.last_used_at else "never used"
        print(f"{c.name}\t{state}\t{used}", file=out)
    if not clients:
        print("no clients", file=out)
    return 0


def cmd_client_revoke(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    db, register = _register(args)
    try:
        done = register.revoke_client(args.name)
    finally:
        db.dispose()
    if not done:
        print(f"ошибка: нет действующего клиента {args.name}", file=sys.stderr)
        return 1
    print(f"client {args.name} revoked", file=out)
    return 0
