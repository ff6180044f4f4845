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
from sqlalchemy.exc import OperationalError
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
"""An address may fail this many times more than one login from it (a shared
office NAT guessing at several logins)."""
LOGIN_FACTOR: Final = 10
"""One login may fail this many times more from all addresses together: a
stranger who knows a login cannot lock its owner out with a few guesses, yet
a guesser rotating addresses meets a ceiling."""
PURGE_EVERY: Final = timedelta(hours=1)

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


@dataclass(frozen=True, slots=True)
class _Staff:
    """What the check needs of a staff row, read before the hash is computed."""

    id: int
    login: str
    name: str
    role: OperatorRole
    password_hash: str
    active: bool

    @classmethod
    def of(cls, op: Operator) -> _Staff:
        return cls(op.id, op.login, op.name, op.role, op.password_hash, op.active)


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
        self._purged_at: datetime | None = None

    # -- log-in ---------------------------------------------------------------------

    def log_in(
        self,
        login: str,
        password: str,
        address: str,
        *,
        now: datetime | None = None,
        replaces: str = "",
    ) -> LoginResult:
        """Check the password (throttled) and open a session; ``replaces``:
        the browser's previous session token, revoked on success."""
        now = now or utcnow()
        op = self._check(login, password, address, now)
        if isinstance(op, LoginOutcome):
            return LoginResult(op)
        token = secrets.token_urlsafe(32)
        with self.db.session(write=True) as session:
            row = WebSession(
                id=_digest(token),
                operator_id=op.id,
                csrf=secrets.token_urlsafe(24),
                created_at=now,
                last_seen=now,
                address=address[:64],
            )
            session.add(row)
            if replaces:
                session.execute(
                    update(WebSession)
                    .where(WebSession.id == _digest(replaces), WebSession.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            self._audit(session, op.id, op.login, "login", "", address, now)
            principal = Principal(op.id, op.login, op.name, op.role, row.id, row.csrf)
        log.info("web log-in: operator %s", op.id)
        self._purge_now_and_then(now)
        return LoginResult(LoginOutcome.OK, token, principal)

    def check_password(
        self, login: str, password: str, address: str, *, now: datetime | None = None
    ) -> Principal | None:
        """HTTP Basic and the CLI: the same throttled check, no session (and
        no CSRF token: nothing a foreign site could ride on)."""
        op = self._check(login, password, address, now or utcnow())
        if isinstance(op, LoginOutcome):
            return None
        return Principal(op.id, op.login, op.name, op.role, "", "")

    def _check(
        self, login: str, password: str, address: str, now: datetime
    ) -> _Staff | LoginOutcome:
        """Throttle, then verify. The password hash (scrypt, ~0.1 s) is never
        computed inside a transaction: the counts and the user row are read
        in a short read, the failure is recorded *before* the hash (so
        parallel guesses all count) and taken back on success."""
        login = login.strip()[:64]
        address = address[:64]
        since = now - self.window
        with self.db.session(readonly=True) as session:
            pair, by_login, by_address = (
                session.scalar(select(func.count()).select_from(LoginFailure).where(*cond)) or 0
                for cond in (
                    (
                        LoginFailure.login == login,
                        LoginFailure.address == address,
                        LoginFailure.at >= since,
                    ),
                    (LoginFailure.login == login, LoginFailure.at >= since),
                    (LoginFailure.address == address, LoginFailure.at >= since),
                )
            )
            found = session.execute(
                select(Operator).where(Operator.login == login)
            ).scalar_one_or_none()
            staff = _Staff.of(found) if found is not None else None
        if (
            pair >= self.max_failures
            or by_login >= self.max_failures * LOGIN_FACTOR
            or by_address >= self.max_failures * ADDRESS_FACTOR
        ):
            # Throttled for this login (from here, or from everywhere) or for
            # this address, whatever the password: no hash is computed.
            with self.db.session(write=True) as session:
                self._audit(session, None, login, "login.throttled", "", address, now)
            return LoginOutcome.THROTTLED
        with self.db.session(write=True) as session:
            failure = LoginFailure(login=login, address=address, at=now)
            session.add(failure)
            session.flush()
            failure_id = failure.id
        good = verify_password(password, staff.password_hash if staff else _DUMMY_HASH)
        with self.db.session(write=True) as session:
            if staff is None or not good or not staff.active or not password:
                session.execute(delete(LoginFailure).where(LoginFailure.at < since))
                self._audit(session, None, login, "login.refused", "", address, now)
                return LoginOutcome.REFUSED
            session.execute(delete(LoginFailure).where(LoginFailure.id == failure_id))
            session.execute(
                delete(LoginFailure).where(
                    LoginFailure.login == login, LoginFailure.address == address
                )
            )
        return staff

    def _purge_now_and_then(self, now: datetime) -> None:
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        self.purge(now=now)

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
            try:
                with self.db.session(write=True) as session:
                    session.execute(
                        update(WebSession).where(WebSession.id == sid).values(last_seen=now)
                    )
            except OperationalError:  # busy: the next request touches it
                log.warning("web session last_seen not updated (database busy)")
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
