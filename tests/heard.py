"""What a simulated callee heard, read back from its recording's audio.

The message of a campaign is played from the prompt files (recorded phrases
and the word files of spoken values, ``words/<token>``). The callee of the
simulated network (number ending 09, ``dialplans/test-network.conf``)
records what reaches it. :meth:`PromptIndex.transcribe` finds, in that recording, every
prompt file of the catalogue by its audio — looked for by the file's
loudest 100 ms, then compared whole, byte for byte (the prompts are 8 kHz
16-bit PCM, as Asterisk's signed-linear frames carry them and ``Record``
writes them) — and gives them in the order they were heard, as the
catalogue's text. Nothing of the call's journal is
used: what is asserted is what came out of the line.

(A speech recogniser would be the other way; no Russian Vosk model can be
installed on these machines — ``PLATFORM.md`` — and the project's Korean one
cannot hear Russian.)
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

WINDOW = 800
"""Samples of a prompt looked for (100 ms at 8 kHz): its loudest stretch."""
STEP = 80
TAIL = 640
"""Bytes at the end of a prompt not compared (40 ms)."""


@dataclass(frozen=True)
class Heard:
    prompt_id: str
    start: float
    """Seconds into the recording."""
    seconds: float
    text: str


def pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (8000, 2, 1):
            raise ValueError(f"{path}: not 8 kHz 16-bit mono")
        return w.readframes(w.getnframes())


def closed(path: Path) -> bool:
    """The recording is complete: its WAV header counts every byte written
    (Asterisk writes the sizes when it closes the file)."""
    try:
        with wave.open(str(path), "rb") as w:
            return 44 + w.getnframes() * 2 == path.stat().st_size and w.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


def _signature(samples: bytes) -> tuple[int, bytes] | None:
    """The offset (bytes) and bytes of the loudest WINDOW of a prompt."""
    n = len(samples) // 2
    if n < WINDOW:
        return None
    values = memoryview(samples).cast("h")
    best, best_at = -1, 0
    for start in range(0, n - WINDOW + 1, STEP):
        energy = sum(abs(v) for v in values[start : start + WINDOW : 4])
        if energy > best:
            best, best_at = energy, start
    if best <= 0:
        return None
    return best_at * 2, samples[best_at * 2 : (best_at + WINDOW) * 2]


@dataclass(frozen=True)
class _Prompt:
    prompt_id: str
    text: str
    offset: int
    needle: bytes
    body: bytes


class PromptIndex:
    """The catalogue's prompt files by their audio, read once (``texts``:
    prompt id → its text; ids with no file under ``sounds`` are left out)."""

    def __init__(self, sounds: Path, texts: dict[str, str]) -> None:
        self.prompts: list[_Prompt] = []
        for prompt_id, text in texts.items():
            path = sounds / f"{prompt_id}.wav"
            if not path.is_file():
                continue
            samples = pcm(path)
            sig = _signature(samples)
            if sig is None:
                continue
            offset, needle = sig
            # The file compared in full where found (two words can share a
            # stretch of audio: «шестнадцатого», «шестнадцатому»), but for its
            # last 40 ms: Asterisk's WAV reader leaves out a file's last 44 bytes.
            body = samples[: max(len(needle) + offset, len(samples) - TAIL)]
            self.prompts.append(_Prompt(prompt_id, text, offset, needle, body))

    def transcribe(self, recording: Path) -> list[Heard]:
        """The prompts found in the recording, in order; where two overlap,
        the longer one."""
        audio = pcm(recording)
        found: list[Heard] = []
        for p in self.prompts:
            at = audio.find(p.needle)
            while at >= 0:
                pos = at - p.offset
                lo = max(0, -pos)  # a prompt already playing when the recording began
                hi = min(len(p.body), len(audio) - pos)  # or still playing when it ended
                if at % 2 == 0 and audio[pos + lo : pos + hi] == p.body[lo:hi]:
                    found.append(Heard(p.prompt_id, pos / 16000, len(p.body) / 16000, p.text))
                at = audio.find(p.needle, at + 2)
        found.sort(key=lambda h: (h.start, -h.seconds))
        out: list[Heard] = []
        for h in found:
            if out and h.start < out[-1].start + out[-1].seconds - 0.01:
                if h.seconds > out[-1].seconds:
                    out[-1] = h
                continue
            out.append(h)
        return out


def as_text(heard: list[Heard]) -> str:
    return " ".join(h.text for h in heard)
