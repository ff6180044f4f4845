"""The command line acts as an authenticated user, never as a role it declares
for itself.

A ``hotline`` command that changes something on behalf of a person, or shows
personal data, takes ``--user LOGIN`` and calls :func:`authenticate_cli`: the
password comes from ``$HOTLINE_PASSWORD`` (a script) or is asked for without
echo, and is checked exactly like the web log-in's
(:meth:`webedge.sessions.SessionStore.check_password`: throttled per login and
per address, a refusal written to the audit log). The command line's
"address" is the operating-system account on this node (:func:`cli_address`,
``cli:UID@HOST``), so one account's failed attempts never lock out another's. What the
command then records — a creator, an editor, an approver — is the returned
principal's login, and what it may do is decided by the principal's role as
the users table says now. A refusal raises :class:`CliAuthError` with a
Russian message; ``hotline`` prints it and exits with status 2.

Reading personal data from the command line is audited like the web's:
:func:`audit_cli` (``SessionStore.audit`` with the same address).

The module imports nothing heavy at import time, so any slice's CLI (and
``hotline.cli``) may import it cheaply.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from core.settings import Settings
    from crm_bridge.db import Database
    from crm_bridge.models import OperatorRole
    from webedge.sessions import Principal

__all__ = [
    "CLI_ADDRESS",
    "PASSWORD_ENV",
    "CliAuthError",
    "audit_cli",
    "authenticate_cli",
    "cli_address",
]

PASSWORD_ENV: Final = "HOTLINE_PASSWORD"
"""The user's password for a script (else it is asked for, without echo)."""
CLI_ADDRESS: Final = "cli"
"""The prefix of the command line's "address" in the throttle and the audit log."""


def cli_address() -> str:
    """``cli:UID@HOST``: the operating-system account running the command on
    this node (fits the 64 characters of an address)."""
    return f"{CLI_ADDRESS}:{os.getuid()}@{socket.gethostname()}"[:64]


REFUSED: Final = (
    "неверный логин или пароль, пользователь отключён "
    "или вход временно заблокирован после неудачных попыток"
)


class CliAuthError(Exception):
    """The command line's user is not authenticated, or their role may not do
    this; the message is for people (Russian)."""


def authenticate_cli(
    db: Database,
    settings: Settings,
    login: str | None,
    *,
    roles: Iterable[OperatorRole] | None = None,
    doing: str = "",
) -> Principal:
    """The user behind ``--user LOGIN``, by their password.

    ``roles``: who may do it (``None``: any active user; a service may still
    refuse, as :meth:`~autoinformer.campaigns.CampaignService.approve` does).
    ``doing``: what is refused, for the message (e.g. "изменять кампании").
    Raises :class:`CliAuthError` when refused."""
    from webedge.sessions import SessionStore

    login = (login or "").strip()
    if not login:
        raise CliAuthError("укажите своего пользователя: --user ЛОГИН")
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        try:
            password = getpass.getpass(f"Пароль пользователя {login}: ")
        except (EOFError, KeyboardInterrupt) as exc:
            raise CliAuthError("пароль не введён") from exc
    who = SessionStore(db, settings).check_password(login, password, cli_address())
    if who is None:
        raise CliAuthError(REFUSED)
    if roles is not None:
        allowed = frozenset(roles)
        if who.role not in allowed:
            raise CliAuthError(_forbidden(who, allowed, doing))
    return who


def audit_cli(db: Database, settings: Settings, who: Principal, action: str, subject: str) -> None:
    """Record that ``who`` read personal data from the command line (152-FZ)."""
    from webedge.sessions import SessionStore

    SessionStore(db, settings).audit(who, action, subject, cli_address())


def _forbidden(who: Principal, allowed: frozenset[OperatorRole], doing: str) -> str:
    from webedge.shell import ROLE_TITLES

    may = " или ".join(sorted(ROLE_TITLES.get(r, r.value) for r in allowed))
    what = f" {doing}" if doing else " это делать"
    return (
        f"недостаточно прав: {who.login} — {ROLE_TITLES.get(who.role, who.role.value)}, "
        f"а{what} может только {may}"
    )
