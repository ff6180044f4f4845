"""Russian meter-reading recognition accuracy (REQ-T14), wherever a Russian model is present.

Usage::

    .venv/bin/python bench/readings_accuracy.py                    # settings' model
    .venv/bin/python bench/readings_accuracy.py --model /opt/vosk-model-small-ru-0.22 -n 300

The model: ``--model``, else ``HOTLINE_VOSK_MODEL`` / ``settings.vosk_model``,
else one installed by ``hotline models fetch``. Without a Russian model it
says so and exits with status 2 (no Russian model can be installed on the
development machines: there it cannot run).

Readings are synthesised with a Russian TTS — ``espeak-ng -v ru`` (two
speeds) and, if installed, RHVoice (``RHVoice-test``) — converted to 8 kHz
16-bit mono (what Asterisk sends), with a little line noise, in the three
ways callers say them: the whole number («двенадцать тысяч триста сорок
пять»), digit by digit («один два три четыре пять», leading zeros included)
and in groups («сто двадцать три сорок пять»). Each goes through the same
pipeline as a call: the Russian grammar of :func:`ivr.speech_lang.russian_pack`,
the recogniser fed 20 ms frames with the flow's end-pointing
(:data:`ivr.speech_lang.READINGS_ENDPOINTING`), then
:func:`ivr.numparse_ru.parse_reading` with the meter's digit count.

Printed: the exact-match rate (overall, per style and per voice), how often
the flow would ask (ambiguous), reject (then ask again / keypad), or get a
wrong value (which the read-back and confirmation then catch); latency of
the result after the end of speech (audio the end-pointer waited for plus the
compute to decide) p50/p99, and the real-time factor.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import logging
import random
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.speech import Final, SpeechEngine
from ivr.speech.resample import rms
from ivr.speech_lang import READINGS_ENDPOINTING, LanguagePack, russian_pack
from ivr.speech_models import installed_model, is_model_dir

RATE = 8000
FRAME = 320
"""20 ms of 8 kHz slin: what AudioSocket delivers."""
SPEECH_RMS = 300
RUSSIAN_PROBE = ("один", "двенадцать", "тысяч", "ноль")


@dataclass(frozen=True)
class Sample:
    value: int
    digits: int
    style: str
    text: str
    voice: str


@dataclass(frozen=True)
class Outcome:
    sample: Sample
    heard: str
    verdict: str
    """exact | asked | rejected | wrong"""
    latency: float
    """Seconds from the end of speech to the result (audio waited + compute)."""
    compute: float
    audio_seconds: float


# -- what callers say ----------------------------------------------------------------------


def _words(n: int) -> str:
    from num2words import num2words

    return str(num2words(n, lang="ru")).replace("-", " ")


DIGIT_WORDS = ("ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять")


def spoken(value: int, digits: int, style: str) -> str:
    if style == "whole":
        return _words(value)
    if style == "digits":
        shown = str(value).zfill(digits) if random.random() < 0.3 else str(value)
        return " ".join(DIGIT_WORDS[int(c)] for c in shown)
    # groups: the first part as a number, the last two digits as a number
    # («сто двадцать три сорок пять»); only where a caller would say it so
    # (a head ending in 0 would run into the tail: «шестьсот» + «десять»)
    head, tail = divmod(value, 100)
    if head % 10 == 0 or tail < 10:
        return _words(value)
    return f"{_words(head)} {_words(tail)}"


def make_samples(count: int, voices: Sequence[str], seed: int) -> list[Sample]:
    random.seed(seed)
    out = []
    styles = ("whole", "digits", "groups")
    for i in range(count):
        digits = random.choice((5, 6))
        value = random.randint(10, 10**digits - 1)
        style = styles[i % len(styles)]
        voice = voices[i % len(voices)]
        out.append(Sample(value, digits, style, spoken(value, digits, style), voice))
    return out


# -- audio ---------------------------------------------------------------------------------


def tts_voices() -> list[str]:
    voices = ["espeak:ru:140", "espeak:ru:170"]
    if shutil.which("RHVoice-test"):
        voices.append("rhvoice")
    return voices


def synthesise(text: str, voice: str) -> bytes:
    """8 kHz 16-bit mono slin of ``text``."""
    if voice.startswith("espeak:"):
        _, lang, speed = voice.split(":")
        wav = subprocess.run(
            ["espeak-ng", "-v", lang, "-s", speed, "--stdout", text],
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
        kind = "wav"
    else:
        wav = subprocess.run(
            ["RHVoice-test", "-o", "/dev/stdout"],
            input=text.encode("utf-8"),
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        kind = "wav"
    return subprocess.run(
        [
            *("sox", "-t", kind, "-", "-r", str(RATE), "-c", "1", "-b", "16"),
            *("-e", "signed-integer", "-t", "raw", "-"),
        ],
        input=wav,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout


def noise(seconds: float, rnd: random.Random, sigma: float = 40.0) -> bytes:
    samples = array.array("h", (int(rnd.gauss(0, sigma)) for _ in range(int(seconds * RATE))))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def mix_noise(pcm: bytes, rnd: random.Random) -> bytes:
    a = array.array("h", pcm)
    b = array.array("h", noise(len(pcm) / 2 / RATE, rnd))
    return array.array(
        "h", (max(-32768, min(32767, x + y)) for x, y in zip(a, b, strict=False))
    ).tobytes()


def speech_end(pcm: bytes) -> float:
    last = 0
    for offset in range(0, len(pcm) - FRAME + 1, FRAME):
        if rms(pcm[offset : offset + FRAME]) >= SPEECH_RMS:
            last = offset + FRAME
    return last / 2 / RATE


# -- the pipeline --------------------------------------------------------------------------


def recognise(engine: SpeechEngine, lang: LanguagePack, pcm: bytes) -> tuple[Final, float]:
    """Feed 20 ms frames as AudioSocket does, with the flow's end-pointing."""
    rec = engine.recogniser(lang.grammar, endpointing=READINGS_ENDPOINTING)
    started = time.perf_counter()
    final: Final | None = None
    for offset in range(0, len(pcm), FRAME):
        result = rec.feed(pcm[offset : offset + FRAME])
        if isinstance(result, Final):
            final = result
            break
    if final is None:
        final = rec.finish()
    return final, time.perf_counter() - started


def judge(sample: Sample, text: str, lang: LanguagePack) -> str:
    parsed = lang.parse_reading(text, max_digits=sample.digits)
    if parsed.ambiguous:
        return "asked" if sample.value in parsed.candidates else "wrong"
    if parsed.value is None:
        return "rejected"
    return "exact" if parsed.value == sample.value else "wrong"


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def is_russian(model: Path) -> bool:
    words = model / "graph" / "words.txt"
    if not words.is_file():
        return True  # cannot tell (big models); the probe below shows the accuracy anyway
    vocabulary = {line.split(" ", 1)[0] for line in words.read_text("utf-8").splitlines()}
    return all(w in vocabulary for w in RUSSIAN_PROBE)


def knows_russian_numbers(engine: SpeechEngine) -> bool:
    """The loaded model's vocabulary has the Russian number words (grammar probe)."""
    quiet = logging.getLogger("ivr.speech.engine")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        for word in RUSSIAN_PROBE:
            engine.recogniser([word])
    except ValueError:
        return False
    finally:
        quiet.setLevel(level)
    return True


def find_model(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    from core.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"readings_accuracy: settings: {exc}", file=sys.stderr)
        return None
    return installed_model(settings)


async def run(args: argparse.Namespace, model: Path) -> int:
    lang = russian_pack()
    voices = tts_voices()
    samples = make_samples(args.count, voices, args.seed)
    rnd = random.Random(args.seed)
    print(f"model: {model}")
    print(f"voices: {', '.join(voices)}; {len(samples)} readings (5 and 6-digit meters)")
    engine = SpeechEngine(model, workers=1)
    try:
        load = time.perf_counter()
        if not await engine.start():
            print(f"readings_accuracy: {engine.unavailable_reason}", file=sys.stderr)
            return 2
        print(f"model loaded in {time.perf_counter() - load:.1f} s")
        if not knows_russian_numbers(engine):
            print(
                f"readings_accuracy: {model} is not a Russian model (Russian number words "
                "are not in its vocabulary); give a Russian one with --model.",
                file=sys.stderr,
            )
            return 2
        outcomes: list[Outcome] = []
        for sample in samples:
            speech = synthesise(sample.text, sample.voice)
            pcm = noise(0.4, rnd) + mix_noise(speech, rnd) + noise(3.0, rnd)
            eos = 0.4 + speech_end(speech)
            final, compute = recognise(engine, lang, pcm)
            audio_seconds = len(pcm) / 2 / RATE
            # the caller waits for the audio after the end of speech the
            # end-pointer needed, plus the compute of that tail (real time: the
            # decoder keeps up, so compute beyond the tail's share is queued)
            waited = max(0.0, final.audio_time - eos)
            tail_compute = compute * (waited / max(final.audio_time, 1e-6))
            verdict = judge(sample, final.text, lang)
            outcomes.append(
                Outcome(sample, final.text, verdict, waited + tail_compute, compute, audio_seconds)
            )
            if args.verbose and verdict != "exact":
                print(f"  {verdict:8} {sample.value:>7} «{sample.text}» → «{final.text}»")
    finally:
        await engine.close()
    report(outcomes)
    return 0


def report(outcomes: list[Outcome]) -> None:
    total = len(outcomes)
    counts = Counter(o.verdict for o in outcomes)

    def rate(n: int, of: int) -> str:
        return f"{n}/{of} = {100 * n / of:.1f} %" if of else "n/a"

    print()
    print(f"exact match:        {rate(counts['exact'], total)}")
    print(f"asked (ambiguous):  {rate(counts['asked'], total)}")
    print(f"rejected (re-ask):  {rate(counts['rejected'], total)}")
    print(f"wrong value:        {rate(counts['wrong'], total)}  (caught by the read-back)")
    for key, label in ((lambda o: o.sample.style, "style"), (lambda o: o.sample.voice, "voice")):
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for o in outcomes:
            groups[key(o)].append(o)
        for name, items in sorted(groups.items()):
            exact = sum(1 for o in items if o.verdict == "exact")
            print(f"  {label} {name:14} exact {rate(exact, len(items))}")
    latencies = [o.latency for o in outcomes]
    print(
        f"end of speech → result: p50 {1000 * pct(latencies, 50):.0f} ms, "
        f"p99 {1000 * pct(latencies, 99):.0f} ms"
    )
    rtf = sum(o.compute for o in outcomes) / sum(o.audio_seconds for o in outcomes)
    print(f"real-time factor (one stream, decode until the result): {rtf:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--model", type=Path, help="Russian Vosk model directory")
    p.add_argument("-n", "--count", type=int, default=300, help="readings to synthesise")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be positive")
    model = find_model(args.model)
    if model is None or not is_model_dir(model):
        where = f" ({model} is not a Vosk model directory)" if model is not None else ""
        print(
            "readings_accuracy: no Russian Vosk model" + where + ". Install one with "
            "`hotline models fetch` (or --from-file offline) or set HOTLINE_VOSK_MODEL; "
            "the Korean test model cannot measure Russian accuracy.",
            file=sys.stderr,
        )
        return 2
    if not is_russian(model):
        print(
            f"readings_accuracy: {model} is not a Russian model (no Russian number words "
            "in graph/words.txt); give a Russian one with --model.",
            file=sys.stderr,
        )
        return 2
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        print(f"readings_accuracy: needs {', '.join(missing)} (apt install)", file=sys.stderr)
        return 2
    return asyncio.run(run(args, model))


if __name__ == "__main__":
    sys.exit(main())
