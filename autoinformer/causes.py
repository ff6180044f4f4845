"""Why an outbound call did not reach the callee, in the dispatcher's words.

Asterisk reports an unanswered Originate twice: the ``OriginateResponse``
``Reason`` (an ``AST_CONTROL_*`` value: 1 rejected, 3 rang out, 5 busy,
8 congestion, 0 anything else) and the ``Hangup`` event's Q.850 ``Cause`` of
the channel, which is the finer of the two (1 "unallocated number", 17 "user
busy", 21 "call rejected"…). :func:`cause_title` turns what was seen into the
Russian line the monitor and the report show («занято», «номер не
существует», «транк не найден»); :func:`trunk_target` says what a dial string
needs to exist in Asterisk, so a missing trunk is reported once, at start-up,
instead of as a failure of every call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["Q850_TITLES", "TrunkTarget", "cause_title", "trunk_target"]

Q850_TITLES: Final[dict[int, str]] = {
    1: "номер не существует",
    2: "нет маршрута к сети",
    3: "нет маршрута к номеру",
    17: "занято",
    18: "абонент не отвечает",
    19: "абонент не ответил",
    20: "абонент недоступен",
    21: "вызов отклонён",
    22: "номер изменился",
    27: "направление не работает",
    28: "неверный формат номера",
    29: "услуга отклонена сетью",
    34: "нет свободных линий",
    38: "сеть не работает",
    41: "временный сбой сети",
    42: "перегрузка сети",
    44: "канал недоступен",
    47: "ресурс недоступен",
    50: "услуга не подключена",
    57: "вызов запрещён",
    58: "вызов запрещён",
    65: "канал не поддерживается",
    66: "канал не поддерживается",
    88: "несовместимый вызов",
    102: "истекло время ожидания",
    111: "ошибка протокола",
    127: "сбой связи",
}
"""Q.850 causes that explain an unanswered call (16, 31: normal clearing, say nothing)."""

ORIGINATE_TITLES: Final[dict[int, str]] = {
    0: "вызов не состоялся",
    1: "вызов отклонён",
    3: "абонент не ответил",
    5: "занято",
    8: "нет свободных линий",
}

NOT_FOUND: Final = "транк не найден"


def cause_title(
    originate_reason: int | None,
    hangup_cause: int | str | None,
    *,
    answered: bool = False,
) -> str:
    """The reason an attempt did not reach the callee; "" when it did.

    The Q.850 cause wins over the coarser Originate reason; an Originate
    that Asterisk refused outright (no channel was created: an unknown
    endpoint or context) says so."""
    if answered:
        return ""
    try:
        cause = int(hangup_cause) if hangup_cause not in (None, "") else None
    except (TypeError, ValueError):
        cause = None
    if cause is not None and cause in Q850_TITLES:
        return Q850_TITLES[cause]
    if originate_reason is not None and originate_reason != 4:
        return ORIGINATE_TITLES.get(originate_reason, "вызов не состоялся")
    return ""


@dataclass(frozen=True)
class TrunkTarget:
    """What must exist in Asterisk for a dial string to work."""

    kind: Literal["endpoint", "context"]
    name: str

    def title(self) -> str:
        what = "PJSIP-абонент" if self.kind == "endpoint" else "контекст диалплана"
        return f"{NOT_FOUND}: {what} «{self.name}» отсутствует в Asterisk"


_PJSIP_AT: Final = re.compile(r"^PJSIP/[^@/]*\{number\}[^@/]*@([\w.+-]+)$")
_PJSIP_ENDPOINT: Final = re.compile(r"^PJSIP/([\w.+-]+)/")
_LOCAL: Final = re.compile(r"^Local/[^@]*\{number\}[^@]*@([\w.+-]+?)(?:/n)?$")


def trunk_target(trunk: str) -> TrunkTarget | None:
    """The endpoint or context a dial string names, None when it names
    neither in a form we can check (another channel driver)."""
    if m := _PJSIP_AT.match(trunk):
        return TrunkTarget("endpoint", m.group(1))
    if m := _PJSIP_ENDPOINT.match(trunk):
        return TrunkTarget("endpoint", m.group(1))
    if m := _LOCAL.match(trunk):
        return TrunkTarget("context", m.group(1))
    return None
