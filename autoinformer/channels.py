"""The channels of a campaign, one after another per contact (REQ-O7, REQ-O12).

A campaign with ``channels`` (``Campaign.channels``, e.g. ``phone,sms,email``)
tries each contact on one channel at a time: first the form of notification
the customer chose (``Account.notify_by``), then the campaign's other
channels in its order. Only where the customer's data allow it (REQ-O7): the
phone and the SMS go only to a number in the contract, the e-mail only to an
address on file. A channel that ends without a positive result (no call
heard, SMS not delivered, letter refused) — after the retries the campaign
allows on it — hands the contact to the next channel; a positive result ends
the contact.

The contact's state: ``Contact.channel`` (the channel tried now) and
``Contact.channels_left`` (those still to try; None: not routed yet). The
dialer routes a contact the first time it sees it (:func:`route`); each
channel's worker claims only the contacts on its channel (the dialer
``phone``, :mod:`sms.campaigns` ``sms``, :mod:`autoinformer.email` ``email``).
A campaign without ``channels`` works as before: the phone, with the e-mail
alongside when ``email_enabled``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from autoinformer.models import Campaign, Contact, ContactStatus
from autoinformer.policy import normalize_phone
from crm_bridge.models import Account

__all__ = [
    "CHANNELS",
    "CHANNEL_TITLES",
    "advance",
    "contact_order",
    "ordered",
    "parse_channels",
    "preferences",
    "route",
]

CHANNELS: Final = ("phone", "sms", "email")
CHANNEL_TITLES: Final = {"phone": "звонок", "sms": "СМС", "email": "e-mail"}
"""For people (the console, the monitor, the report)."""


class ChannelsError(ValueError):
    """A list of channels that cannot be used; the message is for people."""


def parse_channels(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"phone, sms"`` or ``["phone", "sms"]`` → ``("phone", "sms")``
    (duplicates dropped); :class:`ChannelsError` for an unknown channel."""
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        if name not in CHANNELS:
            raise ChannelsError(f"неизвестный канал «{name[:20]}» (допустимо: звонок, СМС, e-mail)")
        if name not in out:
            out.append(name)
    return tuple(out)


def ordered(campaign: Campaign) -> bool:
    """Does the campaign try its channels one after another?"""
    return bool(campaign.channels)


def on_file(phone: str, numbers_on_file: Iterable[str]) -> bool:
    wanted = normalize_phone(phone or "")
    return bool(wanted) and any(normalize_phone(n) == wanted for n in numbers_on_file)


def contact_order(
    enabled: Sequence[str], chosen: str | None, *, phone_on_file: bool, email: bool
) -> list[str]:
    """The channels to try for one contact, in order (pure): the chosen form
    first (when the campaign uses it), then the campaign's order; only those
    the customer's data allow (REQ-O7)."""
    order = list(enabled)
    if chosen in order:
        order.remove(chosen)
        order.insert(0, chosen)
    return [
        c for c in order if (c in ("phone", "sms") and phone_on_file) or (c == "email" and email)
    ]


def preferences(s: Session, account_ids: Iterable[int | None]) -> dict[int, str | None]:
    """Account → the form of notification its customer chose."""
    ids = sorted({a for a in account_ids if a is not None})
    if not ids:
        return {}
    rows = s.execute(select(Account.id, Account.notify_by).where(Account.id.in_(ids)))
    return {account_id: chosen for account_id, chosen in rows}


def route(
    campaign: Campaign,
    contact: Contact,
    chosen: str | None,
    numbers_on_file: Iterable[str],
) -> str | None:
    """Route a contact of an ordered campaign the first time it is seen: its
    first channel (None: no channel may reach it — refused ``not_on_file``)."""
    order = contact_order(
        parse_channels(campaign.channels),
        chosen,
        phone_on_file=on_file(contact.phone, numbers_on_file),
        email=bool(contact.email),
    )
    if not order:
        contact.status = ContactStatus.REFUSED.value
        contact.final_result = "refused"
        contact.refusal = "not_on_file"
        contact.next_at = None
        contact.channels_left = ""
        return None
    contact.channel = order[0]
    contact.channels_left = ",".join(order[1:])
    return order[0]


def advance(campaign: Campaign, contact: Contact, now: datetime) -> bool:
    """The contact's channel ended without a positive result: hand it to the
    next channel (pending at once); False when none is left (or the campaign
    tries no channels in order)."""
    if not ordered(campaign):
        return False
    left = [c for c in (contact.channels_left or "").split(",") if c]
    if not left:
        return False
    contact.channel = left[0]
    contact.channels_left = ",".join(left[1:])
    contact.status = ContactStatus.PENDING.value
    contact.next_at = now
    contact.final_result = None
    contact.refusal = None
    return True


def channel_counts(rows: Iterable[tuple[str | None, str | None, bool, int]]) -> Mapping[str, int]:
    """(channel, result, positive, n) rows → counts per ``channel:result``."""
    out: dict[str, int] = {}
    for channel, result, _positive, n in rows:
        key = f"{channel or 'phone'}:{result or ''}"
        out[key] = out.get(key, 0) + n
    return out
