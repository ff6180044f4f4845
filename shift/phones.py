"""Operators' SIP phones: generated credentials and the PJSIP endpoints
rendered from the database (issue 12).

An operator's phone is a PJSIP endpoint named after it (``op101``) in the
``hotline-operators`` context. Its password is generated, shown once (by
``hotline operators add`` / ``phone``) and never stored: the database keeps
``MD5:`` of ``endpoint:realm:password``, which PJSIP takes as
``password_digest``. The endpoints are rendered into ``pjsip.conf`` by the
composition root (``Slice.asterisk_conf``) each time Asterisk's configuration
is rendered; a change is applied with a reload.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy import inspect, select

from crm_bridge.db import Database
from crm_bridge.models import Operator
from shift.models import SipCredential

__all__ = [
    "REALM",
    "PhoneCredentials",
    "endpoint_sections",
    "issue_phone",
    "password_digest",
]

REALM: Final = "hotline"
"""The digest realm of every operator endpoint (the same on every node)."""
ENDPOINT_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{1,30}$")


@dataclass(frozen=True)
class PhoneCredentials:
    """What a softphone needs, shown once."""

    login: str
    endpoint: str
    password: str
    realm: str = REALM

    def lines(self, sip_host: str, sip_port: int) -> list[str]:
        return [
            f"SIP-учётная запись оператора {self.login}:",
            f"  сервер:  {sip_host}:{sip_port} (UDP)",
            f"  логин:   {self.endpoint}",
            f"  пароль:  {self.password}",
            "  (пароль показан один раз и нигде не хранится)",
        ]


def password_digest(endpoint: str, password: str, realm: str = REALM) -> str:
    return "MD5:" + hashlib.md5(f"{endpoint}:{realm}:{password}".encode()).hexdigest()


def issue_phone(
    db: Database,
    login: str,
    endpoint: str | None = None,
    *,
    password: str | None = None,
    queue: str | None = None,
) -> PhoneCredentials:
    """Give operator ``login`` a phone (or a new password for the one it has);
    ``password``: a given one; ``queue``: the queue the person serves (None:
    keep it; the first line by default)."""
    with db.session(write=True) as session:
        operator = session.execute(select(Operator).where(Operator.login == login)).scalar()
        if operator is None:
            raise ValueError(f"нет сотрудника с логином «{login}»")
        endpoint = endpoint or operator.pjsip_endpoint or f"op{operator.id + 100}"
        if not ENDPOINT_RE.match(endpoint):
            raise ValueError(f"имя SIP-учётной записи «{endpoint}»: латиница, цифры, - и _")
        taken = session.execute(
            select(SipCredential.operator_id).where(
                SipCredential.endpoint == endpoint, SipCredential.operator_id != operator.id
            )
        ).scalar()
        if taken is not None:
            raise ValueError(f"SIP-учётная запись «{endpoint}» уже выдана другому сотруднику")
        secret = password or secrets.token_urlsafe(18)
        row = session.get(SipCredential, operator.id)
        if row is None:
            row = SipCredential(operator_id=operator.id, endpoint=endpoint, password_digest="")
            session.add(row)
        row.endpoint = endpoint
        row.password_digest = password_digest(endpoint, secret)
        if queue is not None:
            row.queue = queue or None
        operator.pjsip_endpoint = endpoint
        operator.interface = f"PJSIP/{endpoint}"
        return PhoneCredentials(login, endpoint, secret)


def endpoint_sections(db: Database) -> str:
    """The operators' endpoints, auths and AORs for ``pjsip.conf`` (empty
    before the database is migrated)."""
    if not inspect(db.engine).has_table("sip_credentials"):
        return ""
    with db.session() as session:
        rows = session.execute(
            select(SipCredential.endpoint, SipCredential.password_digest, Operator.active)
            .join(Operator, Operator.id == SipCredential.operator_id)
            .order_by(SipCredential.endpoint)
        ).all()
    out = ["; operators' phones, rendered from the database (shift.phones)"]
    for endpoint, digest, active in rows:
        if not active:
            continue
        out += [
            f"[{endpoint}](operator-template)",
            f"auth = {endpoint}",
            f"aors = {endpoint}",
            f"[{endpoint}](auth-template)",
            f"username = {endpoint}",
            f"realm = {REALM}",
            f"password_digest = {digest}",
            f"[{endpoint}](aor-template)",
            "",
        ]
    return "\n".join(out) + "\n"


def asterisk_conf(db: Database) -> Mapping[str, str]:
    """``Slice.asterisk_conf``: the sections this slice adds to Asterisk's files."""
    return {"pjsip.conf": endpoint_sections(db)}
