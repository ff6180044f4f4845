"""The reading back of a callee's recording (tests/heard.py), on made-up
prompts: found in order as Asterisk plays them (a file's last 44 bytes left
out), two words sharing a stretch of audio told apart, a prompt not played
not found, an unfinished recording not taken as closed."""

from __future__ import annotations

import random
import wave
from pathlib import Path

from tests.heard import PromptIndex, as_text, closed


def _wav(path: Path, samples: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(v.to_bytes(2, "little", signed=True) for v in samples))


def test_prompts_are_read_back_in_the_order_heard(tmp_path: Path) -> None:
    rng = random.Random(7)

    def noise(n: int) -> list[int]:
        return [rng.randint(-8000, 8000) for _ in range(n)]

    shared = noise(3000)  # «шестнадцат…»
    prompts = {
        "words/shestnadtsatogo": shared + noise(1500),
        "words/shestnadtsatomu": shared + noise(1400),
        "words/dekabrya": noise(4000),
        "outbound/goodbye": noise(6000),
    }
    texts = {
        "words/shestnadtsatogo": "шестнадцатого",
        "words/shestnadtsatomu": "шестнадцатому",
        "words/dekabrya": "декабря",
        "outbound/goodbye": "До свидания!",
    }
    for pid, samples in prompts.items():
        _wav(tmp_path / "sounds" / f"{pid}.wav", samples)
    played: list[int] = [0] * 800
    for pid in ("words/shestnadtsatogo", "words/dekabrya", "outbound/goodbye"):
        played += prompts[pid][:-22] + [0] * 400  # Asterisk leaves out the last 44 bytes
    recording = tmp_path / "heard.wav"
    _wav(recording, played)
    assert closed(recording)
    index = PromptIndex(tmp_path / "sounds", texts)
    heard = index.transcribe(recording)
    assert as_text(heard) == "шестнадцатого декабря До свидания!"
    assert [round(h.start, 2) for h in heard][:1] == [0.1]
    # a recording still being written (its header not yet counting the data)
    recording.write_bytes(recording.read_bytes() + b"\0" * 320)
    assert not closed(recording)
