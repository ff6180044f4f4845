"""A campaign's message as a text message (issue 18 item 3): the builder's
phrases in a short written form (:data:`SMS_WORDS`), the spoken values as
written — «20.12.2026 с 10:00 до 16:00», «2 750,40 руб.» — so that a notice
fits one UCS-2 segment (70 characters) where the message allows; a survey
campaign's text is its first question (:mod:`autoinformer.survey`). Used by
the SMS channel (:mod:`sms.campaigns`) and shown on the campaign's page."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from autoinformer import survey
from autoinformer.campaigns import PERIOD, UPLOAD_ID_RE
from autoinformer.models import Campaign

__all__ = ["SMS_WORDS", "sms_text", "written_value"]

SMS_WORDS: Final[Mapping[str, str]] = {
    "outbound/greeting": "",
    "outbound/debt_account": "По лицевому счёту",
    "outbound/debt_amount": "задолженность",
    "outbound/debt_request": "Просим оплатить.",
    "outbound/if_paid": "",
    "outbound/payment_due": "Оплатите электроэнергию до",
    "outbound/outage_notice": "Плановое отключение электроэнергии",
    "outbound/outage_reason": "",
    "outbound/tariff_change": "Новые тарифы на электроэнергию с",
    "outbound/tariff_details": "",
    "outbound/readings_reminder": "Передайте показания счётчика.",
    "outbound/meter_verification": "Истекает срок поверки счётчика.",
}
"""The builder's phrases as an SMS says them (short; "" — not written);
other phrases are written as the catalogue's text."""


# -- the text -------------------------------------------------------------------------


def _money(value: Any) -> str:
    amount = Decimal(str(value).replace(",", ".").replace(" ", "")).quantize(Decimal("0.01"))
    whole, frac = f"{amount:.2f}".split(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    groups: list[str] = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return f"{sign}{' '.join(groups) or '0'},{frac} руб."


def _moment(value: Any, tz: str | None) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if tz and dt.tzinfo is not None:
        dt = dt.astimezone(ZoneInfo(tz))
    return dt


def _date_only(value: Any) -> bool:
    return not isinstance(value, datetime) and (
        isinstance(value, date) or len(str(value).strip()) == 10
    )


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def written_value(kind: str, value: Any, tz: str | None = None, until: Any = None) -> str:
    """A spoken value of the builder as written in an SMS; ValueError when
    there is none. ``period``: from ``value`` until ``until``."""
    if value is None or value == "":
        raise ValueError("no value")
    try:
        if kind == "money":
            return _money(value)
        if kind == "date":
            return f"{_day(value):%d.%m.%Y}"
        if kind == "time":
            t = value if isinstance(value, time) else time.fromisoformat(str(value))
            return f"{t:%H:%M}"
        if kind == "datetime":
            return f"{_moment(value, tz):%d.%m.%Y %H:%M}"
        if kind == PERIOD:
            if until is None or until == "":
                raise ValueError("no end of the period")
            if _date_only(value) and _date_only(until):
                a, b = _day(value), _day(until)
                return f"{a:%d.%m.%Y}" if a == b else f"с {a:%d.%m.%Y} по {b:%d.%m.%Y}"
            a_dt, b_dt = _moment(value, tz), _moment(until, tz)
            if a_dt.date() == b_dt.date():
                return f"{a_dt:%d.%m.%Y} с {a_dt:%H:%M} до {b_dt:%H:%M}"
            return f"с {a_dt:%d.%m.%Y %H:%M} до {b_dt:%d.%m.%Y %H:%M}"
        if kind in ("phone", "account", "number"):
            return str(value).strip()
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ValueError(f"cannot write {kind}: {exc}") from None
    raise ValueError(f"unknown kind {kind!r}")


@functools.lru_cache(maxsize=1)
def _catalogue() -> Any:
    from ivr.prompts import PromptCatalogue

    return PromptCatalogue.load()


def _catalogue_text() -> Callable[[str], str]:
    """The catalogue's text of a phrase (the catalogue read once)."""
    catalogue = _catalogue()

    def text(pid: str) -> str:
        return str(catalogue.text(pid))

    return text


def sms_text(
    campaign: Campaign,
    variables: Mapping[str, Any],
    tz: str | None = None,
    prompt_text: Callable[[str], str] | None = None,
) -> str:
    """The campaign's message for one contact as an SMS (see the module)."""
    if survey.is_survey(campaign):
        return survey.SMS_QUESTIONS[survey.questions(campaign)[0]]
    if prompt_text is None:
        prompt_text = _catalogue_text()
    parts: list[str] = []
    for step in campaign.scenario or []:
        if "prompt" in step:
            pid = step["prompt"]
            if pid in SMS_WORDS:
                text = SMS_WORDS[pid]
            else:
                try:
                    text = str(prompt_text(pid))
                except KeyError:
                    text = ""
        elif "say" in step:
            value = step["value"] if "value" in step else variables.get(step.get("var", ""))
            try:
                text = written_value(step["say"], value, tz, variables.get(step.get("until", "")))
            except ValueError:
                text = ""  # a value missing is left out, never invented
        else:  # a recording, or a question that an SMS cannot ask
            text = ""
        if not text or UPLOAD_ID_RE.match(text):
            continue
        if parts and text[0].isupper() and parts[-1][-1] not in ".!?:":
            parts[-1] += "."
        parts.append(text)
    out = " ".join(parts).strip()
    if not out:
        return campaign.name.strip()
    return out if out[-1] in ".!?" else out + "."
