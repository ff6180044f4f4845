"""Log-in, sessions and the audit log, in the shared database.

* A session is a random token in an ``HttpOnly`` cookie; the database keeps
  only its SHA-256, the user, the CSRF token and the times. Every request
  reads the user's row again: a user made inactive or given another role is
  judged by what the row says now, not by what it said at log-in.
* A session ends after ``web_session_idle_minutes`` unused, after
  ``web_session_max_hours`` in any case, and at log-out (revoked, so the same
  cookie replayed is refused on every node).
* Log-in is throttled per login and per address over a sliding window; an
  unknown login costs the same scrypt work as a known one, so timing does not
  tell which logins exist.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.settings import Settings
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Operator, OperatorRole
from crm_bridge.passwords import hash_password, verify_password
from webedge.models import AuditEvent, LoginFailure, WebSession

log = logging.getLogger(__name__)

TOUCH_EVERY: Final = timedelta(seconds=60)
"""``last_seen`` is written at most this often per session (reads stay reads)."""
ADDRESS_FACTOR: Final = 4
"""An address may fail this many times more than one login (a shared office NAT)."""

_DUMMY_HASH: Final = hash_password(secrets.token_hex(16))
"""Checked against for an unknown login, so it costs what a known one costs."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request, as the database says now."""

    operator_id: int
    login: str
    name: str
    role: OperatorRole
    session_id: str
    csrf: str

    @property
    def supervisor(self) -> bool:
        return self.role is OperatorRole.SUPERVISOR


class LoginOutcome(Enum):
    OK = "ok"
    REFUSED = "refused"
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: LoginOutcome
    token: str = ""
    principal: Principal | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.idle = timedelta(minutes=settings.web_session_idle_minutes)
        self.lifetime = timedelta(hours=settings.web_session_max_hours)
        self.window = timedelta(minutes=settings.web_login_window_minutes)
        self.max_failures = settings.web_login_max_failures

    # -- log-in ---------------------------------------------------------------------

    def log_in(
        self, login: str, password: str, address: str, *, now: datetime | None = None
    ) -> LoginResult:
        """Check the password (throttled) and open a session."""
        now = now or utcnow()
        with self.db.session(write=True) as session:
            op = self._check(session, login, password, address, now)
            if isinstance(op, LoginOutcome):
                return LoginResult(op)
            token = secrets.token_urlsafe(32)
            row = WebSession(
                id=_digest(token),
                operator_id=op.id,
                csrf=secrets.token_urlsafe(24),
                created_at=now,
                last_seen=now,
                address=address[:64],
            )
            session.add(row)
            self._audit(session, op.id, op.login, "login", "", address, now)
            principal = Principal(op.id, op.login, op.name, op.role, row.id, row.csrf)
        log.info("web log-in: operator %s", op.id)
        return LoginResult(LoginOutcome.OK, token, principal)

    def check_password(
        self, login: str, password: str, address: str, *, now: datetime | None = None
    ) -> Principal | None:
        """HTTP Basic: the same throttled check, no session (and no CSRF token:
        nothing a foreign site could ride on)."""
        now = now or utcnow()
        with self.db.session(write=True) as session:
            op = self._check(session, login, password, address, now)
            if isinstance(op, LoginOutcome):
                return None
            return Principal(op.id, op.login, op.name, op.role, "", "")

    def _check(
        self, session: Session, login: str, password: str, address: str, now: datetime
    ) -> Operator | LoginOutcome:
        login = login.strip()[:64]
        address = address[:64]
        since = now - self.window
        by_login = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.login == login, LoginFailure.at >= since)
        )
        by_address = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.address == address, LoginFailure.at >= since)
        )
        if (by_login or 0) >= self.max_failures or (
            by_address or 0
        ) >= self.max_failures * ADDRESS_FACTOR:
            verify_password(password, _DUMMY_HASH)  # a refused guess costs the same
            self._audit(session, None, login, "login.throttled", "", address, now)
            return LoginOutcome.THROTTLED
        op = session.execute(select(Operator).where(Operator.login == login)).scalar_one_or_none()
        good = verify_password(password, op.password_hash if op else _DUMMY_HASH)
        if op is None or not good or not op.active or not password:
            session.add(LoginFailure(login=login, address=address, at=now))
            session.execute(delete(LoginFailure).where(LoginFailure.at < since))
            self._audit(session, None, login, "login.refused", "", address, now)
            return LoginOutcome.REFUSED
        session.execute(delete(LoginFailure).where(LoginFailure.login == login))
        return op

    # -- every request --------------------------------------------------------------

    def load(self, token: str, *, now: datetime | None = None) -> Principal | None:
        """The principal of a live session (user active, not idle, not expired,
        not revoked), else None."""
        if not token or len(token) > 128:
            return None
        now = now or utcnow()
        sid = _digest(token)
        with self.db.session() as session:
            found = session.execute(
                select(WebSession, Operator)
                .join(Operator, Operator.id == WebSession.operator_id)
                .where(WebSession.id == sid)
            ).one_or_none()
        if found is None:
            return None
        row, op = found
        if (
            row.revoked_at is not None
            or not op.active
            or now - row.last_seen > self.idle
            or now - row.created_at > self.lifetime
        ):
            return None
        if now - row.last_seen > TOUCH_EVERY:
            with self.db.session(write=True) as session:
                session.execute(
                    update(WebSession).where(WebSession.id == sid).values(last_seen=now)
                )
        return Principal(op.id, op.login, op.name, op.role, sid, row.csrf)

    def revoke(self, session_id: str, *, now: datetime | None = None) -> None:
        with self.db.session(write=True) as session:
            session.execute(
                update(WebSession)
                .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
                .values(revoked_at=now or utcnow())
            )

    def revoke_user(self, operator_id: int, *, now: datetime | None = None) -> int:
        """End every session of a user (a password change, a dismissal)."""
        with self.db.session(write=True) as session:
            result = session.execute(
                update(WebSession)
                .where(WebSession.operator_id == operator_id, WebSession.revoked_at.is_(None))
                .values(revoked_at=now or utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def purge(self, *, now: datetime | None = None) -> int:
        """Delete sessions past their lifetime (kept a day for the audit's sake)."""
        cutoff = (now or utcnow()) - self.lifetime - timedelta(days=1)
        with self.db.session(write=True) as session:
            result = session.execute(delete(WebSession).where(WebSession.created_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)

    # -- audit ----------------------------------------------------------------------

    def audit(self, who: Principal | None, action: str, subject: str, address: str = "") -> None:
        with self.db.session(write=True) as session:
            self._audit(
                session,
                who.operator_id if who else None,
                who.login if who else "",
                action,
                subject,
                address,
                utcnow(),
            )

    @staticmethod
    def _audit(
        session: Session,
        operator_id: int | None,
        login: str,
        action: str,
        subject: str,
        address: str,
        now: datetime,
    ) -> None:
        session.add(
            AuditEvent(
                at=now,
                operator_id=operator_id,
                login=login[:64],
                action=action,
                subject=subject[:128],
                address=address[:64],
            )
        )
