"""The frame check shared by the flow tiers (FakeChannel and real Asterisk):
every value a flow speaks agrees in case with the fragment just before it.

A ``say`` entry of a call journal follows a ``prompt`` entry; that prompt's
``then`` (``recordings/prompts.toml``) is the case the value must be said in,
and the words said must be :func:`ivr.phrases_ru.tokens_for` of the
journalled value in that case. A value after a prompt that names no case, or
right after another value, fails the check. Asterisk's own ``SAY NUMBER``
(the diagnostic route; no words of ours, empty text) is not ours to check.
"""

from __future__ import annotations

from collections.abc import Iterable

from ivr.phrases_ru import tokens_for
from ivr.prompts import PromptCatalogue
from ivr.say_ru import tokens_to_text
from telephony.journal import JournalEntry

_CATALOGUE: PromptCatalogue | None = None


def catalogue() -> PromptCatalogue:
    global _CATALOGUE
    if _CATALOGUE is None:
        _CATALOGUE = PromptCatalogue.load(include_words=False)
    return _CATALOGUE


def spoken_frames(entries: Iterable[JournalEntry]) -> list[str]:
    """Check every spoken value against its fragment; return them as
    ``"prompt -> what:case"`` (what the test then expects to have been heard)."""
    heard = [e for e in entries if e.kind in ("prompt", "say")]
    checked: list[str] = []
    for i, entry in enumerate(heard):
        if entry.kind != "say" or not entry.detail.get("text"):
            continue
        what, value = str(entry.detail["what"]), str(entry.detail["value"])
        before = heard[i - 1] if i else None
        assert before is not None and before.kind == "prompt", (
            f"{what}:{value} is not after a fragment: {before and before.detail}"
        )
        pid = str(before.detail["id"])
        case = catalogue().get(pid).then
        assert case, f"{pid} is followed by {what}:{value} but names no case (then = …)"
        expected = tokens_to_text(tokens_for(what, value, case))  # type: ignore[arg-type]
        assert entry.detail["text"] == expected, (
            f"after {pid} (then = {case!r}) {what}:{value} was said "
            f"«{entry.detail['text']}», expected «{expected}»"
        )
        checked.append(f"{pid} -> {what}:{case}")
    return checked
