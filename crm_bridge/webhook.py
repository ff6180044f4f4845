"""The external CRM / billing hook: appeals and meter readings pushed to an
HTTP webhook through a durable outbox (nothing is lost while the far side is down).

* :class:`OutboxMessage` (table ``outbox_messages``) holds every message until
  it is delivered; :func:`enqueue` adds one **in the caller's transaction**
  (a Session or a Core connection), so the message exists if and only if the
  business write committed.
* :class:`OutboxHooks` makes that automatic for this database: registered
  appeals (``AppealService.register``, a Core insert), changed appeals (the
  ORM workflow methods) and new readings (``ReadingService.submit``) enqueue
  ``appeal.registered`` / ``appeal.updated`` / ``reading.created`` in the
  same transaction as the write (SQLAlchemy ``after_execute`` / ``after_flush``
  events scoped to this database's engine).
* :class:`WebhookDelivery` (component ``webhook``) sends pending messages
  strictly in order (the next one waits for the previous one), at least once:
  a message is marked delivered only after a 2xx answer; the far side
  de-duplicates by the ``Idempotency-Key`` header. Failures are retried with
  exponential backoff bounded by ``max_delay`` (it never gives up: the outbox
  is the record). Every request is signed: ``X-Hotline-Signature: sha256=<hex
  HMAC-SHA256 of the body with the webhook secret>``.

Disabled when ``webhook_url`` is empty (no hooks, nothing enqueued).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import aiohttp
from sqlalchemy import (
    Connection,
    Index,
    Integer,
    String,
    Table,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import Insert

from crm_bridge.db import Base, Database, UtcDateTime, utcnow
from crm_bridge.models import Account, Appeal, JSONType, Meter, Reading

__all__ = [
    "DeliveryError",
    "OutboxHooks",
    "OutboxMessage",
    "WebhookDelivery",
    "enqueue",
    "pending_count",
    "sign",
    "webhook_secret",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

SIGNATURE_HEADER: Final = "X-Hotline-Signature"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
KIND_HEADER: Final = "X-Hotline-Event"
SECRET_FILE: Final = "webhook.secret"


class OutboxMessage(Base):
    """One message for the external system, kept until delivered."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_pending", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Delivery order."""
    key: Mapped[str] = mapped_column(String(64), unique=True)
    """Idempotency key (sent as ``Idempotency-Key``)."""
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))


_OUTBOX: Final = cast(Table, OutboxMessage.__table__)
_APPEALS: Final = cast(Table, Appeal.__table__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def enqueue(target: Session | Connection, kind: str, payload: Mapping[str, Any]) -> str:
    """Add a message in ``target``'s transaction; returns its idempotency key."""
    if not kind or len(kind) > 32:
        raise ValueError("message kind must be 1–32 characters")
    key = uuid.uuid4().hex
    stmt = insert(_OUTBOX).values(
        key=key, kind=kind, payload=_jsonable(dict(payload)), created_at=utcnow(), attempts=0
    )
    target.execute(stmt)
    return key


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_secret(settings: Any) -> str:
    """``settings.webhook_secret``, else generated once into the data dir (0600)."""
    configured = getattr(settings, "webhook_secret", "") or ""
    if configured:
        return str(configured)
    path = Path(settings.data) / SECRET_FILE
    if not path.exists():
        import os
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


# -- enqueue in the business transaction -------------------------------------------

_APPEAL_FIELDS: Final = (
    "number",
    "category",
    "received_at",
    "channel",
    "kind",
    "content",
    "classification",
    "status",
    "not_considered_reason",
    "account_id",
    "routing_due_at",
    "due_at",
    "extended_due_at",
    "answered_at",
    "closed_at",
    "reply_channel",
)


def _appeal_payload(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _jsonable(values.get(name)) for name in _APPEAL_FIELDS}


class OutboxHooks:
    """SQLAlchemy events on one database that enqueue appeals and readings in
    the writing transaction (see the module docstring). :meth:`remove` undoes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._installed = False

    def install(self) -> None:
        if self._installed:
            return
        event.listen(self.db.engine, "after_execute", self._after_execute)
        event.listen(Session, "after_flush", self._after_flush)
        self._installed = True

    def remove(self) -> None:
        if not self._installed:
            return
        event.remove(self.db.engine, "after_execute", self._after_execute)
        event.remove(Session, "after_flush", self._after_flush)
        self._installed = False

    def _after_execute(
        self,
        conn: Connection,
        clauseelement: Any,
        multiparams: Any,
        params: Any,
        execution_options: Any,
        result: Any,
    ) -> None:
        # AppealService.register: one Core INSERT … RETURNING id with its
        # values as the execution's parameters (several rows: executemany;
        # values built into the statement: compiled in).
        if not isinstance(clauseelement, Insert) or clauseelement.table is not _APPEALS:
            return
        rows = list(multiparams) or [params or clauseelement.compile(dialect=conn.dialect).params]
        for values in rows:
            if values.get("number"):
                enqueue(conn, "appeal.registered", _appeal_payload(values))

    def _after_flush(self, session: Session, flush_context: Any) -> None:
        # A class-level Session event: only this database's sessions.
        if getattr(session.get_bind(), "url", None) != self.db.engine.url:
            return
        for obj in list(session.new) + list(session.dirty):
            if isinstance(obj, Appeal) and obj in session.dirty:
                if not session.is_modified(obj, include_collections=False):
                    continue
                values = {name: getattr(obj, name) for name in _APPEAL_FIELDS}
                enqueue(session, "appeal.updated", {"id": obj.id, **_appeal_payload(values)})
            elif isinstance(obj, Reading) and obj in session.new:
                row = session.execute(
                    select(Meter.serial, Account.number)
                    .join(Account, Account.id == Meter.account_id)
                    .where(Meter.id == obj.meter_id)
                ).first()
                enqueue(
                    session,
                    "reading.created",
                    {
                        "id": obj.id,
                        "meter_serial": row.serial if row else None,
                        "account_number": row.number if row else None,
                        "zone": _jsonable(obj.zone),
                        "value": _jsonable(obj.value),
                        "taken_at": _jsonable(obj.taken_at),
                        "source": _jsonable(obj.source),
                        "status": _jsonable(obj.status),
                    },
                )


# -- delivery ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pending:
    id: int
    key: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None


class DeliveryError(Exception):
    """The far side did not accept a message (retried later)."""


RunDb = Callable[..., Awaitable[Any]]


async def _run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


class WebhookDelivery:
    """Sends the outbox to ``url`` in order, at least once (component ``webhook``)."""

    def __init__(
        self,
        db: Database,
        url: str,
        secret: str,
        *,
        run_db: RunDb = _run_in_thread,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        request_timeout: float = 10.0,
        poll_interval: float = 1.0,
        install_hooks: bool = True,
    ) -> None:
        if url and not secret:
            raise ValueError("a webhook needs a secret to sign its requests")
        self.db = db
        self.url = url
        self._secret = secret
        self._run_db = run_db
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.request_timeout = request_timeout
        self.poll_interval = poll_interval
        self.hooks = OutboxHooks(db) if install_hooks else None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failures = 0

    @classmethod
    def from_runtime(cls, runtime: Any) -> WebhookDelivery:
        services = runtime.services
        settings = services.settings
        url = getattr(settings, "webhook_url", "") or ""
        secret = webhook_secret(settings) if url else ""
        return cls(services.db, url, secret, run_db=services.run_db)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    async def start(self) -> None:
        if not self.enabled:
            logger.info("webhook disabled (no webhook_url)")
            return
        if self.hooks is not None:
            self.hooks.install()
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.request_timeout)
        )
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")
        logger.info("webhook delivery started")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.hooks is not None:
            self.hooks.remove()

    def kick(self) -> None:
        """Look at the outbox now (e.g. right after an enqueue)."""
        self._wake.set()

    # -- the loop ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            pending = await self._run_db(self._next_pending)
            if pending is None:
                await self._sleep(self.poll_interval)
                continue
            now = utcnow()
            if pending.next_attempt_at is not None and pending.next_attempt_at > now:
                await self._sleep((pending.next_attempt_at - now).total_seconds())
                continue
            try:
                await self._send(pending)
            except DeliveryError as exc:
                self.failures += 1
                delay = self.backoff(pending.attempts + 1)
                logger.warning(
                    "webhook message %s (%s) not delivered, attempt %d, retry in %.1fs: %s",
                    pending.id,
                    pending.kind,
                    pending.attempts + 1,
                    delay,
                    exc,
                )
                await self._run_db(self._failed, pending.id, str(exc)[:255], delay)
                continue
            await self._run_db(self._delivered, pending.id)
            self.delivered += 1

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, min(seconds, self.max_delay)))

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: doubling, capped at ``max_delay``."""
        return float(min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1))))

    async def _send(self, msg: _Pending) -> None:
        assert self._http is not None
        body = json.dumps(
            {
                "id": msg.id,
                "key": msg.key,
                "kind": msg.kind,
                "created_at": msg.created_at.isoformat(),
                "payload": msg.payload,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: msg.key,
            KIND_HEADER: msg.kind,
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        try:
            async with self._http.post(self.url, data=body, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    raise DeliveryError(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc

    # -- outbox rows (DB thread pool) -------------------------------------------------

    def _next_pending(self) -> _Pending | None:
        with self.db.session() as session:
            row = session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(1)
            ).scalar_one_or_none()
            if row is None:
                return None
            return _Pending(
                row.id,
                row.key,
                row.kind,
                dict(row.payload),
                row.created_at,
                row.attempts,
                row.next_attempt_at,
            )

    def _delivered(self, message_id: int) -> None:
        with self.db.transaction(write=True) as conn:
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == message_id)
                .values(delivered_at=utcnow(), attempts=_OUTBOX.c.attempts + 1, last_error=None)
            )

    def _failed(self, message_id: int, error: str, delay: float) -> None:
        with self.db.transaction(write=True) as conn:
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == message_id)
                .values(
                    attempts=_OUTBOX.c.attempts + 1,
                    last_error=error,
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                )
            )


def pending_count(db: Database) -> int:
    from sqlalchemy import func

    with db.session() as session:
        return int(
            session.execute(
                select(func.count()).select_from(_OUTBOX).where(_OUTBOX.c.delivered_at.is_(None))
            ).scalar_one()
        )
