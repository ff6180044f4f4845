"""Surge detection (issue 16 item 3): a burst of calls that no registered
outage explains raises an alert for the dispatchers.

Within the last ``outage_surge_minutes`` (M), counting only calls whose
caller is not inside a current registered outage:

* **a street** (settlement + street) with ``outage_surge_calls`` (N) or more
  inbound calls from accounts on it, of any topic (a caller not identified
  in the call is placed by the calling number when it is on file for
  exactly one account);
* **a settlement** with N or more such calls spread over its streets (no one
  street reaching N by itself);
* **the region**: N or more calls about outages (the menu's item 2, or an
  appeal classified КЭ or Ог) with no registered outage at the caller's
  address, or no address known.

An alert names the place and the callers' houses (never flats, numbers or
phones). There is one open alert per place (a unique partial index, so two
nodes scanning at once still raise one); after a dispatcher acknowledges
it, only calls after the acknowledgement count for that place again. New
alerts are e-mailed to ``outage_surge_to`` by :class:`SurgeComponent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crm_bridge.address import from_parts
from crm_bridge.db import Database, utcnow
from crm_bridge.identify import Identifier
from crm_bridge.models import Account, Appeal, Call, CallDirection, ClassificationCode
from crm_bridge.outages import OutageService
from outages.models import SurgeAlert

__all__ = ["AlertView", "SurgeComponent", "SurgeDetector"]

log = logging.getLogger(__name__)

OUTAGE_CODES: Final = (ClassificationCode.KE, ClassificationCode.OG)
REGION: Final = "region"
MAX_ADDRESSES: Final = 50


@dataclass(frozen=True)
class AlertView:
    id: int
    place_key: str
    place: str
    calls: int
    addresses: list[str]
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    @classmethod
    def of(cls, a: SurgeAlert) -> AlertView:
        return cls(
            a.id,
            a.place_key,
            a.place,
            a.calls,
            list(a.addresses or []),
            a.raised_at,
            a.acknowledged_at,
            a.acknowledged_by,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "place": self.place,
            "calls": self.calls,
            "addresses": self.addresses,
            "raised_at": self.raised_at.isoformat(),
        }


@dataclass
class _Bucket:
    place: str
    calls: set[int] = field(default_factory=set)
    addresses: dict[str, None] = field(default_factory=dict)


@dataclass
class SurgeDetector:
    db: Database
    calls: int = 10
    minutes: int = 15
    clock: Callable[[], datetime] = field(default=utcnow)

    def scan(self, now: datetime | None = None) -> list[AlertView]:
        """Look at the last M minutes; raise the alerts due (returned)."""
        now = now or self.clock()
        since = now - timedelta(minutes=self.minutes)
        outages = OutageService(self.db)
        with self.db.session(readonly=True) as s:
            acked: dict[str, datetime] = {}
            for key, at in s.execute(
                select(SurgeAlert.place_key, SurgeAlert.acknowledged_at).where(
                    SurgeAlert.acknowledged_at >= since
                )
            ):
                if at is not None and (key not in acked or at > acked[key]):
                    acked[key] = at
            open_keys = set(
                s.scalars(select(SurgeAlert.place_key).where(SurgeAlert.acknowledged_at.is_(None)))
            )
            rows = s.execute(
                select(
                    Call.id, Call.started_at, Call.account_id, Call.caller_number, Call.ivr_path
                ).where(Call.direction == CallDirection.IN, Call.started_at >= since)
            ).all()
            appeal_calls = set(
                s.scalars(
                    select(Appeal.call_id).where(
                        Appeal.received_at >= since,
                        Appeal.classification.in_(OUTAGE_CODES),
                        Appeal.call_id.is_not(None),
                    )
                )
            )
        # A caller not identified in the call is placed by the calling number
        # when it is on file for exactly one account.
        by_number: dict[str, int | None] = {}
        identifier = Identifier(self.db)
        for r in rows:
            if r.account_id is None and r.caller_number and r.caller_number not in by_number:
                by_number[r.caller_number] = identifier.by_phone(r.caller_number).account_id
        with self.db.session(readonly=True) as s:
            account_ids = {r.account_id for r in rows if r.account_id is not None} | {
                a for a in by_number.values() if a is not None
            }
            accounts = {
                a.id: a
                for a in (
                    s.scalars(select(Account).where(Account.id.in_(account_ids)))
                    if account_ids
                    else []
                )
            }
            places = {aid: _place_of(a) for aid, a in accounts.items()}
        covered: dict[int, bool] = {}
        for aid in account_ids:
            found = outages.affecting(account_id=aid, now=now, horizon=timedelta(0))
            covered[aid] = any(o.current(now) for o in found)

        streets: dict[str, _Bucket] = {}
        settlements: dict[str, _Bucket] = {}
        region = _Bucket("весь регион: обращения об отключениях")
        for r in rows:
            about_outage = "outages" in (r.ivr_path or []) or r.id in appeal_calls
            account_id = r.account_id
            if account_id is None and r.caller_number:
                account_id = by_number.get(r.caller_number)
            if account_id is not None and covered.get(account_id):
                continue
            place = places.get(account_id) if account_id is not None else None
            if about_outage and _after(r.started_at, acked.get(REGION)):
                region.calls.add(r.id)
                if place is not None:
                    region.addresses[place[2]] = None
            if place is None:
                continue
            street_key, settlement_key, house, street_title, settlement_title = place
            if street_key and _after(r.started_at, acked.get(street_key)):
                b = streets.setdefault(street_key, _Bucket(street_title))
                b.calls.add(r.id)
                b.addresses[house] = None
            street_taken = street_key is not None and (
                street_key in open_keys or not _after(r.started_at, acked.get(street_key))
            )  # a call its street's alert already shows does not count again
            if (
                settlement_key
                and not street_taken
                and _after(r.started_at, acked.get(settlement_key))
            ):
                b = settlements.setdefault(settlement_key, _Bucket(settlement_title))
                b.calls.add(r.id)
                b.addresses[house] = None
        due: list[tuple[str, _Bucket]] = []
        hot_settlements = set()
        for key, b in streets.items():
            if len(b.calls) >= self.calls:
                due.append((key, b))
                hot_settlements.add(key.split("|", 1)[0].removeprefix("street:"))
        for key, b in settlements.items():
            name = key.removeprefix("settlement:")
            if len(b.calls) >= self.calls and name not in hot_settlements:
                due.append((key, b))
        if len(region.calls) >= self.calls:
            due.append((REGION, region))
        raised: list[AlertView] = []
        for key, b in due:
            if key in open_keys:
                self._refresh(key, b)
                continue
            view = self._raise(key, b, now)
            if view is not None:
                raised.append(view)
        return raised

    def _raise(self, key: str, b: _Bucket, now: datetime) -> AlertView | None:
        try:
            with self.db.session(write=True) as s:
                alert = SurgeAlert(
                    place_key=key,
                    place=b.place[:300],
                    calls=len(b.calls),
                    addresses=list(b.addresses)[:MAX_ADDRESSES],
                    raised_at=now,
                )
                s.add(alert)
                s.flush()
                view = AlertView.of(alert)
        except IntegrityError:
            return None  # another node raised it first
        log.warning("outage surge alert %s raised: %s calls", view.id, view.calls)
        return view

    def _refresh(self, key: str, b: _Bucket) -> None:
        """An open alert keeps counting (the dispatcher sees the burst grow)."""
        with self.db.session(write=True) as s:
            s.execute(
                update(SurgeAlert)
                .where(
                    SurgeAlert.place_key == key,
                    SurgeAlert.acknowledged_at.is_(None),
                    SurgeAlert.calls < len(b.calls),
                )
                .values(calls=len(b.calls), addresses=list(b.addresses)[:MAX_ADDRESSES])
            )

    def open_alerts(self) -> list[AlertView]:
        with self.db.session(readonly=True) as s:
            return [
                AlertView.of(a)
                for a in s.scalars(
                    select(SurgeAlert)
                    .where(SurgeAlert.acknowledged_at.is_(None))
                    .order_by(SurgeAlert.raised_at.desc(), SurgeAlert.id.desc())
                )
            ]

    def acknowledge(self, alert_id: int, by: str) -> bool:
        with self.db.session(write=True) as s:
            result = s.execute(
                update(SurgeAlert)
                .where(SurgeAlert.id == alert_id, SurgeAlert.acknowledged_at.is_(None))
                .values(acknowledged_at=self.clock(), acknowledged_by=by[:64])
            )
            return bool(getattr(result, "rowcount", 0))

    def claim_unsent(self, now: datetime | None = None) -> list[AlertView]:
        """The alerts not e-mailed yet, marked as e-mailed (the caller sends
        them, and :meth:`unclaim` gives them back when sending fails)."""
        now = now or self.clock()
        with self.db.session(write=True) as s:
            alerts = list(
                s.scalars(
                    select(SurgeAlert)
                    .where(SurgeAlert.emailed_at.is_(None))
                    .with_for_update(skip_locked=True)
                )
            )
            for a in alerts:
                a.emailed_at = now
            return [AlertView.of(a) for a in alerts]

    def unclaim(self, ids: list[int]) -> None:
        with self.db.session(write=True) as s:
            s.execute(update(SurgeAlert).where(SurgeAlert.id.in_(ids)).values(emailed_at=None))


def _after(at: datetime | None, mark: datetime | None) -> bool:
    return mark is None or (at is not None and at > mark)


def _place_of(a: Account) -> tuple[str | None, str | None, str, str, str]:
    """(street place key, settlement place key, the house, street title, settlement title)."""
    parsed = from_parts(
        settlement=a.settlement, street_type=a.street_type, street=a.street, house=a.house
    )
    settlement = a.settlement_key or parsed.settlement or ""
    house = from_parts(
        settlement=a.settlement,
        street_type=a.street_type,
        street=a.street,
        house=a.house,
        building=a.building,
        structure=a.structure,
    ).display()
    street_key = f"street:{settlement}|{parsed.street}" if parsed.street else None
    settlement_key = f"settlement:{settlement}" if settlement else None
    street_title = (
        from_parts(settlement=a.settlement, street_type=a.street_type, street=a.street).display()
        if parsed.street
        else ""
    )
    settlement_title = f"населённый пункт {settlement}" if settlement else ""
    return street_key, settlement_key, house, street_title or "улица", settlement_title


def letter_body(alerts: list[AlertView], zone: ZoneInfo) -> str:
    lines = ["Всплеск звонков без зарегистрированного отключения.", ""]
    for a in alerts:
        when = a.raised_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
        lines.append(f"{when} — {a.place}: звонков {a.calls}")
        lines.extend(f"  {addr}" for addr in a.addresses)
        lines.append("")
    lines.append("Подтвердите сигнал в реестре отключений (/outages/).")
    return "\n".join(lines)


class SurgeComponent:
    """The component ``outage_surge``: scans every ``outage_surge_check_seconds``
    and e-mails the alerts raised; its task is owned (started, cancelled, awaited)."""

    def __init__(self, services: Any, *, clock: Callable[[], datetime] = utcnow) -> None:
        from autoinformer.email import SmtpConfig

        settings = services.settings
        self.services = services
        self.detector = SurgeDetector(
            services.db,
            calls=int(settings.outage_surge_calls),
            minutes=int(settings.outage_surge_minutes),
            clock=clock,
        )
        self.cfg = SmtpConfig.from_settings(settings)
        self.to = [a.strip() for a in str(settings.outage_surge_to).split(",") if a.strip()]
        self.zone = ZoneInfo(settings.timezone)
        self.interval = float(settings.outage_surge_check_seconds)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="outage-surge")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> list[AlertView]:
        raised = await self.services.run_db(self.detector.scan)
        await self.mail_once()
        return raised

    async def mail_once(self) -> int:
        if not self.to or self.cfg.insecure() is not None:
            return 0
        alerts = await self.services.run_db(self.detector.claim_unsent)
        if not alerts:
            return 0
        try:
            await self.services.run_db(self._send, alerts)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("surge alert letter not sent (%s); retrying", type(exc).__name__)
            await self.services.run_db(self.detector.unclaim, [a.id for a in alerts])
            return 0
        return len(alerts)

    def _send(self, alerts: list[AlertView]) -> None:
        from autoinformer.email import Letter, send_letter

        body = letter_body(alerts, self.zone)
        subject = f"Всплеск звонков: {alerts[0].place}" + (
            f" и ещё {len(alerts) - 1}" if len(alerts) > 1 else ""
        )
        for n, to in enumerate(self.to):
            send_letter(
                self.cfg,
                Letter(0, n, to, subject, body, make_msgid(idstring=f"surge-{alerts[0].id}")),
            )

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad round must not end the loop; logged, retried
                log.exception("surge scan failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
