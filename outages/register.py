"""The outage register (issue 16 item 1): planned and emergency outages the
dispatchers keep, with their affected addresses, period, reason, decision
time (REQ-O9: households are told within 3 days of it) and status.

An outage's addresses are lines of text, one area each, read by the
project's address parser (:mod:`crm_bridge.address`):

* ``г. Демоград, ул. Ленина, д. 1-15`` (or ``ул. Ленина 1–15``): a street's
  houses 1 to 15 (by the number's digits: 5а and 5 к1 are inside);
* ``ул. Ленина, д. 5а``: one house;
* ``ул. Ленина`` (``г. Демоград, ул. Ленина``): the whole street;
* ``с. Ивановка``: the whole settlement (a settlement type is required).

:meth:`OutageRegister.preview` says what each line matched (how many
accounts) and which lines were not understood, before anything is saved; a
save with a line not understood is refused. Each line becomes one row of
crm_bridge's ``outages`` table (``register_id`` = the outage), the rows the
IVR (:meth:`crm_bridge.outages.OutageService.affecting` / ``emergency``) and
the autoinformer read; a status change or a moved estimated restoration
time moves their end with it, and goes to the outage's history.

Statuses: planned → in progress → restored (a planned outage may also be
cancelled); an emergency starts in progress and has an estimated
restoration time that can be moved — or none yet («уточняется»: ``ends_at``
empty). An emergency stays active until it is marked restored: its rows
end at :data:`crm_bridge.outages.OPEN_END` and carry the estimate in
``eta``; an estimate that has passed is announced as «сроки уточняются»
and flagged on the register page (:meth:`EntryView.overdue`) so that the
dispatcher moves it or marks the outage restored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from crm_bridge.address import normalize_text, parse_address
from crm_bridge.db import Database, utcnow
from crm_bridge.outages import (
    OPEN_END,
    Outage,
    OutageKind,
    Scope,
    has_unsettled,
    scope_accounts,
    touch,
)
from outages.models import ApiClient, OutageEntry, OutageHistory, OutageStatus

__all__ = [
    "KIND_RU",
    "STATUS_RU",
    "AddressLineError",
    "Draft",
    "EntryPage",
    "EntryView",
    "LineMatch",
    "OutageInputError",
    "OutageRegister",
    "Preview",
    "hash_token",
    "parse_line",
]

KIND_RU: Final = {OutageKind.PLANNED: "плановое", OutageKind.EMERGENCY: "аварийное"}
STATUS_RU: Final = {
    OutageStatus.PLANNED: "запланировано",
    OutageStatus.IN_PROGRESS: "идёт",
    OutageStatus.RESTORED: "восстановлено",
    OutageStatus.CANCELLED: "отменено",
}
ACTION_RU: Final = {
    "created": "внесено",
    "updated": "изменено",
    "status": "статус",
    "eta": "восстановление перенесено",
}
MAX_LINES: Final = 500
MAX_LINE: Final = 300
_TRANSITIONS: Final = {
    OutageStatus.PLANNED: {OutageStatus.IN_PROGRESS, OutageStatus.RESTORED, OutageStatus.CANCELLED},
    OutageStatus.IN_PROGRESS: {OutageStatus.RESTORED},
    OutageStatus.RESTORED: set(),
    OutageStatus.CANCELLED: set(),
}
_RANGE_RE: Final = re.compile(
    r"^(?P<street>.*?)[\s,]*(?:\b(?:д|дом|дома|домов)\b\.?\s*)?"
    r"(?:с\s+)?(?P<low>\d+)\s*(?:-|\.\.|по|до)\s*(?P<high>\d+)\s*$"
)


class OutageInputError(ValueError):
    """Input the register cannot take; the message is Russian, for people."""


class AddressLineError(OutageInputError):
    pass


class NotFound(LookupError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "otg_" + secrets.token_urlsafe(32)


def parse_line(text: str) -> Scope:
    """One address line → its scope (see the module docstring);
    :class:`AddressLineError` says in Russian why a line is not understood."""
    line = " ".join(text.split())
    if not line:
        raise AddressLineError("пустая строка")
    if len(line) > MAX_LINE:
        raise AddressLineError(f"строка длиннее {MAX_LINE} символов")
    norm = normalize_text(line)
    m = _RANGE_RE.match(norm)
    if m and m.group("street").strip(" ,"):
        low, high = int(m.group("low")), int(m.group("high"))
        if high < low:
            raise AddressLineError(f"дома {low}–{high}: начало диапазона больше конца")
        parsed = parse_address(m.group("street") + " 1")
        if not parsed.street:
            raise AddressLineError("не найдена улица перед диапазоном домов")
        return Scope(
            settlement_key=parsed.settlement,
            street_key=parsed.street,
            house_from=low,
            house_to=high,
        )
    parsed = parse_address(norm)
    if parsed.street and parsed.house is not None:
        if parsed.flat:
            raise AddressLineError("квартира не указывается: отключение касается дома")
        return Scope(settlement_key=parsed.settlement, house_key=parsed.house_key)
    if parsed.street:
        if not re.search(r"[a-zа-я]", parsed.street):
            raise AddressLineError("адрес не распознан")
        return Scope(settlement_key=parsed.settlement, street_key=parsed.street)
    if parsed.settlement:
        return Scope(settlement_key=parsed.settlement)
    raise AddressLineError("адрес не распознан (нужны улица, дом или населённый пункт)")


def _lines(addresses: str | Sequence[str]) -> list[str]:
    raw = addresses.splitlines() if isinstance(addresses, str) else list(addresses)
    return [" ".join(str(a).split()) for a in raw if str(a).strip()]


@dataclass(frozen=True)
class LineMatch:
    line_no: int
    text: str
    scope: Scope | None
    accounts: int
    error: str | None = None


@dataclass(frozen=True)
class Preview:
    lines: list[LineMatch]
    accounts: int
    """Distinct accounts over every line."""

    @property
    def unparsed(self) -> list[LineMatch]:
        return [m for m in self.lines if m.error]

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not self.unparsed


@dataclass(frozen=True)
class Draft:
    """What is entered for one outage (the page, a file's row, the API)."""

    kind: OutageKind
    starts_at: datetime
    ends_at: datetime | None
    """A planned outage's end (required), or an emergency's estimated
    restoration time (None: «уточняется»)."""
    addresses: list[str]
    decided_at: datetime | None = None
    reason: str = ""
    status: OutageStatus | None = None

    def check(self) -> None:
        if self.ends_at is None and self.kind is OutageKind.PLANNED:
            raise OutageInputError("окончание: для планового отключения укажите дату и время")
        for name, value in (("начало", self.starts_at), ("окончание", self.ends_at)):
            if value is not None and value.tzinfo is None:
                raise OutageInputError(f"{name}: время без часового пояса")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            what = "восстановление" if self.kind is OutageKind.EMERGENCY else "окончание"
            raise OutageInputError(f"{what} должно быть позже начала")
        if self.decided_at is not None and self.decided_at > self.starts_at:
            if self.kind is OutageKind.PLANNED:
                raise OutageInputError("решение об отключении не может быть позже его начала")
        if not self.addresses:
            raise OutageInputError("укажите адреса: хотя бы одну строку")
        if len(self.addresses) > MAX_LINES:
            raise OutageInputError(f"не больше {MAX_LINES} строк адресов в одном отключении")
        if len(self.reason) > 2000:
            raise OutageInputError("причина длиннее 2000 символов")


@dataclass(frozen=True)
class EntryView:
    id: int
    kind: OutageKind
    status: OutageStatus
    starts_at: datetime
    ends_at: datetime | None
    restored_at: datetime | None
    decided_at: datetime
    reason: str
    addresses: str
    source: str
    external_id: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: OutageEntry) -> EntryView:
        return cls(
            e.id,
            e.kind,
            e.status,
            e.starts_at,
            e.ends_at,
            e.restored_at,
            e.decided_at,
            e.reason,
            e.addresses,
            e.source,
            e.external_id,
            e.created_by,
            e.created_at,
            e.updated_at,
        )

    @property
    def lines(self) -> list[str]:
        return self.addresses.splitlines()

    @property
    def open(self) -> bool:
        return self.status in (OutageStatus.PLANNED, OutageStatus.IN_PROGRESS)

    def overdue(self, now: datetime) -> bool:
        """An emergency not marked restored whose estimated restoration time
        has passed («срок восстановления прошёл»: the dispatcher moves it or
        marks it restored; meanwhile callers hear «сроки уточняются»)."""
        return (
            self.kind is OutageKind.EMERGENCY
            and self.open
            and self.ends_at is not None
            and self.ends_at <= now
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "kind": self.kind.value,
            "status": self.status.value,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "restored_at": self.restored_at.isoformat() if self.restored_at else None,
            "decided_at": self.decided_at.isoformat(),
            "reason": self.reason,
            "addresses": self.lines,
        }


@dataclass(frozen=True)
class HistoryView:
    at: datetime
    by: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class EntryPage:
    entry: EntryView
    history: list[HistoryView]
    preview: Preview


@dataclass(frozen=True)
class ClientView:
    id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass
class OutageRegister:
    """The register over the database (blocking; the web runs it in threads)."""

    db: Database
    clock: Callable[[], datetime] = field(default=utcnow)

    # -- matching -------------------------------------------------------------------

    def preview(self, addresses: str | Sequence[str]) -> Preview:
        lines = _lines(addresses)
        with self.db.session(readonly=True) as session:
            return self._preview(session, lines)

    @staticmethod
    def _preview(session: Session, lines: list[str]) -> Preview:
        out: list[LineMatch] = []
        every: set[int] = set()
        unsettled = has_unsettled(session)
        for n, text in enumerate(lines, 1):
            try:
                scope = parse_line(text)
            except AddressLineError as exc:
                out.append(LineMatch(n, text, None, 0, str(exc)))
                continue
            found = scope_accounts(session, scope, unsettled=unsettled)
            every |= found
            out.append(LineMatch(n, text, scope, len(found)))
        return Preview(out, len(every))

    def resolve(self, addresses: str | Sequence[str]) -> set[int]:
        """The distinct accounts inside the lines (lines not understood skipped)."""
        every: set[int] = set()
        with self.db.session(readonly=True) as session:
            unsettled = has_unsettled(session)
            for text in _lines(addresses):
                try:
                    every |= scope_accounts(session, parse_line(text), unsettled=unsettled)
                except AddressLineError:
                    continue
        return every

    # -- entering ---------------------------------------------------------------------

    def create(
        self,
        draft: Draft,
        *,
        by: str,
        source: str = "page",
        client_id: int | None = None,
        external_id: str | None = None,
    ) -> EntryView:
        draft.check()
        scopes = self._scopes(draft.addresses)
        now = self.clock()
        with self.db.session(write=True) as session:
            entry = self._insert(session, draft, scopes, by, source, client_id, external_id, now)
            return EntryView.of(entry)

    def create_many(self, drafts: Sequence[Draft], *, by: str, source: str) -> list[EntryView]:
        """All or nothing (a file's rows)."""
        checked = []
        for d in drafts:
            d.check()
            checked.append((d, self._scopes(d.addresses)))
        now = self.clock()
        with self.db.session(write=True) as session:
            return [
                EntryView.of(self._insert(session, d, s, by, source, None, None, now))
                for d, s in checked
            ]

    def put_external(
        self, client_id: int, external_id: str, draft: Draft, *, by: str
    ) -> tuple[EntryView, bool]:
        """Create or update the outage the client knows as ``external_id``
        (idempotent: the same body twice changes nothing the second time).
        Returns the outage and whether it was created."""
        draft.check()
        scopes = self._scopes(draft.addresses)
        now = self.clock()
        with self.db.session(write=True) as session:
            entry = session.scalars(
                select(OutageEntry)
                .where(OutageEntry.client_id == client_id, OutageEntry.external_id == external_id)
                .with_for_update()
            ).first()
            if entry is None:
                created = self._insert(
                    session, draft, scopes, by, "api", client_id, external_id, now
                )
                return EntryView.of(created), True
            self._update(session, entry, draft, scopes, by, now)
            return EntryView.of(entry), False

    @staticmethod
    def _scopes(addresses: Sequence[str]) -> list[tuple[str, Scope]]:
        out: list[tuple[str, Scope]] = []
        bad: list[str] = []
        for n, text in enumerate(_lines(addresses), 1):
            try:
                out.append((text, parse_line(text)))
            except AddressLineError as exc:
                bad.append(f"строка {n} «{text[:80]}»: {exc}")
        if bad:
            raise OutageInputError("адреса не распознаны — " + "; ".join(bad[:5]))
        if not out:
            raise OutageInputError("укажите адреса: хотя бы одну строку")
        return out

    def _insert(
        self,
        session: Session,
        draft: Draft,
        scopes: list[tuple[str, Scope]],
        by: str,
        source: str,
        client_id: int | None,
        external_id: str | None,
        now: datetime,
    ) -> OutageEntry:
        status = draft.status or (
            OutageStatus.IN_PROGRESS if draft.kind is OutageKind.EMERGENCY else OutageStatus.PLANNED
        )
        entry = OutageEntry(
            kind=draft.kind,
            status=status,
            starts_at=draft.starts_at,
            ends_at=draft.ends_at,
            restored_at=now if status is OutageStatus.RESTORED else None,
            decided_at=draft.decided_at or min(now, draft.starts_at),
            reason=draft.reason,
            addresses="\n".join(text for text, _ in scopes),
            source=source,
            client_id=client_id,
            external_id=external_id,
            created_by=by[:64],
            created_at=now,
            updated_at=now,
        )
        session.add(entry)
        session.flush()
        self._write_scopes(session, entry, scopes)
        session.add(
            OutageHistory(
                outage_id=entry.id,
                at=now,
                by=by[:96],
                action="created",
                detail={"status": status.value, "source": source, "lines": len(scopes)},
            )
        )
        return entry

    @staticmethod
    def _write_scopes(
        session: Session, entry: OutageEntry, scopes: list[tuple[str, Scope]]
    ) -> None:
        session.execute(delete(Outage).where(Outage.register_id == entry.id))
        touch(session)  # every node's snapshot of the outages is read again
        if entry.status is OutageStatus.CANCELLED:
            return
        eta: datetime | None = None
        if entry.kind is OutageKind.EMERGENCY:
            # Active until marked restored, whatever the estimate says.
            eta = entry.ends_at
            ends = OPEN_END
            if entry.status is OutageStatus.RESTORED:
                ends = entry.restored_at or entry.ends_at or entry.starts_at
                ends = max(entry.starts_at, ends)
        else:
            assert entry.ends_at is not None  # Draft.check: a planned outage has its end
            ends = entry.ends_at
            if entry.status is OutageStatus.RESTORED and entry.restored_at is not None:
                ends = max(entry.starts_at, min(ends, entry.restored_at))
        if ends <= entry.starts_at:
            return  # restored before it began: nothing to announce
        for text, s in scopes:
            session.add(
                Outage(
                    kind=entry.kind,
                    starts_at=entry.starts_at,
                    ends_at=ends,
                    eta=eta,
                    settlement_key=s.settlement_key,
                    street_key=s.street_key,
                    house_from=s.house_from,
                    house_to=s.house_to,
                    house_key=s.house_key,
                    address_text=text[:512],
                    reason=entry.reason,
                    register_id=entry.id,
                )
            )

    def _update(
        self,
        session: Session,
        entry: OutageEntry,
        draft: Draft,
        scopes: list[tuple[str, Scope]],
        by: str,
        now: datetime,
    ) -> None:
        changes: list[tuple[str, dict[str, Any]]] = []
        if draft.ends_at != entry.ends_at:
            changes.append(("eta", {"from": _iso(entry.ends_at), "to": _iso(draft.ends_at)}))
        if draft.status is not None and draft.status is not entry.status:
            if draft.status not in _TRANSITIONS[entry.status]:
                raise OutageInputError(
                    f"статус «{STATUS_RU[entry.status]}» не меняется на «{STATUS_RU[draft.status]}»"
                )
            changes.append(("status", {"from": entry.status.value, "to": draft.status.value}))
        text = "\n".join(t for t, _ in scopes)
        other = {
            "kind": (entry.kind, draft.kind),
            "starts_at": (entry.starts_at, draft.starts_at),
            "reason": (entry.reason, draft.reason),
            "addresses": (entry.addresses, text),
        }
        if draft.decided_at is not None:
            other["decided_at"] = (entry.decided_at, draft.decided_at)
        changed = [k for k, (old, new) in other.items() if old != new]
        if changed:
            changes.append(("updated", {"fields": changed}))
        if not changes:
            return
        if entry.status in (OutageStatus.RESTORED, OutageStatus.CANCELLED):
            raise OutageInputError(f"отключение {STATUS_RU[entry.status]}: изменить его нельзя")
        entry.kind = draft.kind
        entry.starts_at = draft.starts_at
        entry.ends_at = draft.ends_at
        entry.reason = draft.reason
        entry.addresses = text
        if draft.decided_at is not None:
            entry.decided_at = draft.decided_at
        if draft.status is not None:
            entry.status = draft.status
            if draft.status is OutageStatus.RESTORED:
                entry.restored_at = now
        entry.updated_at = now
        self._write_scopes(session, entry, scopes)
        for action, detail in changes:
            session.add(
                OutageHistory(outage_id=entry.id, at=now, by=by[:96], action=action, detail=detail)
            )

    # -- the life of an outage ---------------------------------------------------------

    def set_status(self, outage_id: int, status: OutageStatus | str, *, by: str) -> EntryView:
        new = OutageStatus(status)
        now = self.clock()
        with self.db.session(write=True) as session:
            entry = self._locked(session, outage_id)
            if new not in _TRANSITIONS[entry.status]:
                raise OutageInputError(
                    f"статус «{STATUS_RU[entry.status]}» не меняется на «{STATUS_RU[new]}»"
                )
            old = entry.status
            entry.status = new
            entry.updated_at = now
            if new is OutageStatus.RESTORED:
                entry.restored_at = now
            if new is OutageStatus.IN_PROGRESS and entry.starts_at > now:
                entry.starts_at = now  # began earlier than planned: announce it now
            self._rescope(session, entry)
            session.add(
                OutageHistory(
                    outage_id=entry.id,
                    at=now,
                    by=by[:96],
                    action="status",
                    detail={"from": old.value, "to": new.value},
                )
            )
            return EntryView.of(entry)

    def move_eta(self, outage_id: int, ends_at: datetime | None, *, by: str) -> EntryView:
        """Move the (estimated) restoration time; the old one stays in the
        history. None: an emergency's estimate «уточняется»."""
        if ends_at is not None and ends_at.tzinfo is None:
            raise OutageInputError("время без часового пояса")
        now = self.clock()
        with self.db.session(write=True) as session:
            entry = self._locked(session, outage_id)
            if entry.status in (OutageStatus.RESTORED, OutageStatus.CANCELLED):
                raise OutageInputError(
                    f"отключение {STATUS_RU[entry.status]}: срок восстановления не переносится"
                )
            if ends_at is None and entry.kind is OutageKind.PLANNED:
                raise OutageInputError("окончание планового отключения: укажите дату и время")
            if ends_at is not None and ends_at <= entry.starts_at:
                raise OutageInputError("восстановление должно быть позже начала отключения")
            old = entry.ends_at
            entry.ends_at = ends_at
            entry.updated_at = now
            self._rescope(session, entry)
            session.add(
                OutageHistory(
                    outage_id=entry.id,
                    at=now,
                    by=by[:96],
                    action="eta",
                    detail={"from": _iso(old), "to": _iso(ends_at)},
                )
            )
            return EntryView.of(entry)

    def _rescope(self, session: Session, entry: OutageEntry) -> None:
        scopes = [(t, parse_line(t)) for t in _lines(entry.addresses)]
        self._write_scopes(session, entry, scopes)

    @staticmethod
    def _locked(session: Session, outage_id: int) -> OutageEntry:
        entry = session.scalars(
            select(OutageEntry).where(OutageEntry.id == outage_id).with_for_update()
        ).first()
        if entry is None:
            raise NotFound(f"отключение {outage_id} не найдено")
        return entry

    # -- reading -------------------------------------------------------------------------

    def get(self, outage_id: int) -> EntryView:
        with self.db.session(readonly=True) as session:
            entry = session.get(OutageEntry, outage_id)
            if entry is None:
                raise NotFound(f"отключение {outage_id} не найдено")
            return EntryView.of(entry)

    def page(self, outage_id: int) -> EntryPage:
        with self.db.session() as session:
            entry = session.get(OutageEntry, outage_id)
            if entry is None:
                raise NotFound(f"отключение {outage_id} не найдено")
            history = [
                HistoryView(h.at, h.by, h.action, dict(h.detail or {}))
                for h in session.scalars(
                    select(OutageHistory)
                    .where(OutageHistory.outage_id == outage_id)
                    .order_by(OutageHistory.at, OutageHistory.id)
                )
            ]
            preview = self._preview(session, _lines(entry.addresses))
            return EntryPage(EntryView.of(entry), history, preview)

    def listing(self, *, limit: int = 200, include_closed_days: int = 7) -> list[EntryView]:
        """Open outages and those closed within the last days, newest first."""
        since = self.clock() - timedelta(days=include_closed_days)
        with self.db.session(readonly=True) as session:
            rows = session.scalars(
                select(OutageEntry)
                .where(
                    OutageEntry.status.in_([OutageStatus.PLANNED, OutageStatus.IN_PROGRESS])
                    | (OutageEntry.updated_at >= since)
                )
                .order_by(OutageEntry.starts_at.desc(), OutageEntry.id.desc())
                .limit(limit)
            )
            return [EntryView.of(e) for e in rows]

    def by_external(self, client_id: int, external_id: str) -> EntryView:
        with self.db.session(readonly=True) as session:
            entry = session.scalars(
                select(OutageEntry).where(
                    OutageEntry.client_id == client_id, OutageEntry.external_id == external_id
                )
            ).first()
            if entry is None:
                raise NotFound(f"отключение {external_id} не найдено")
            return EntryView.of(entry)

    # -- API clients ----------------------------------------------------------------------

    def add_client(self, name: str) -> tuple[ClientView, str]:
        """A new API client and its token (shown once; only its hash is kept)."""
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
            raise OutageInputError("имя клиента: латиница, цифры, . _ - (до 64 символов)")
        token = new_token()
        with self.db.session(write=True) as session:
            exists = session.scalar(select(func.count()).where(ApiClient.name == name))
            if exists:
                raise OutageInputError(f"клиент {name} уже есть")
            client = ApiClient(name=name, token_hash=hash_token(token), created_at=self.clock())
            session.add(client)
            session.flush()
            return _client_view(client), token

    def clients(self) -> list[ClientView]:
        with self.db.session(readonly=True) as session:
            return [
                _client_view(c) for c in session.scalars(select(ApiClient).order_by(ApiClient.id))
            ]

    def revoke_client(self, name: str) -> bool:
        with self.db.session(write=True) as session:
            result = session.execute(
                update(ApiClient)
                .where(ApiClient.name == name, ApiClient.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
            return bool(getattr(result, "rowcount", 0))

    def client_by_token(self, token: str) -> ClientView | None:
        """The active client of a token (and its last use noted), or None."""
        if not token or len(token) > 200:
            return None
        digest = hash_token(token)
        with self.db.session(write=True) as session:
            client = session.scalars(
                select(ApiClient).where(
                    ApiClient.token_hash == digest, ApiClient.revoked_at.is_(None)
                )
            ).first()
            if client is None:
                return None
            client.last_used_at = self.clock()
            return _client_view(client)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _client_view(c: ApiClient) -> ClientView:
    return ClientView(c.id, c.name, c.created_at, c.revoked_at, c.last_used_at)
