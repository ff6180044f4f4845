"""Vosk speech engine for the meter-reading flow (REQ-T14).

One :class:`SpeechEngine` per process, owned by the application: it loads the
Vosk model once (lazily, or eagerly by :meth:`SpeechEngine.start`) and shares it
with every :class:`Recogniser` it creates. Recognition runs in the engine's own
bounded :class:`~concurrent.futures.ThreadPoolExecutor`; Vosk is called through
cffi, which releases the GIL for the C call, so the event loop stays responsive
while the pool decodes.

Audio is signed 16-bit little-endian mono PCM ("slin"), 8 kHz from the phone.
Most Vosk models (including ``vosk-model-small-ru-0.22``) are 16 kHz: the
engine reads the model's rate from ``conf/mfcc.conf`` and either lets Kaldi
resample inside its feature pipeline (``--allow-upsample=true``, the default
of Vosk's small models; measured slightly more accurate than linear
interpolation on 8 kHz speech) or up-samples itself with
:class:`~ivr.speech.resample.Resampler`.

End of an utterance (all measured in *audio* time, so the result does not
depend on how fast audio is delivered):

* Vosk's endpoint: ``AcceptWaveform()`` returns True with a non-empty text
  (the model's ``conf/model.conf`` rules; ``rule2`` = 0.5 s of trailing
  silence after a word in the small models);
* trailing silence by energy: ``Endpointing.trailing_silence`` seconds below
  ``energy_threshold`` after speech started, of which time filled in (no
  audio arrived) counts only beyond ``Endpointing.stall_grace`` (a stall is
  not a pause) (a backstop for noisy lines where
  Vosk keeps decoding, and the knob for a shorter cut than the model's rules;
  with the grammar-constrained Korean model Vosk's own endpoint was measured
  0.9-1.0 s after the speech, so the 0.8 s default usually decides first);
* completeness: ``Endpointing.complete(text)`` - when the call flow knows
  what a full answer looks like (all the digits of a meter), the utterance
  ends once what was said is complete and ``complete_silence`` (0.2 s) of
  silence has passed. When that pause was really received (every frame of
  it came from the line), Vosk decodes to the end there (a final result, so
  the last word counts at once); when part of it was filled in by the
  stream (no audio arrived: a stall, or silence suppression), the partial
  result decides, since a final decode there could cut a word that is still
  on its way. Time filled in moves the end-pointing clock only: it never
  reaches the recogniser as audio (zeros fed into a word that arrives late,
  after a stall under load, made Vosk lose the word; seen in the soak);
* no speech at all within ``no_input_timeout`` -> ``EndReason.NO_SPEECH``;
* speech longer than ``max_utterance`` -> ``EndReason.MAX_UTTERANCE``.

With no model configured (or a model that fails to load)
:attr:`SpeechEngine.available` is False, one clear message is logged, and the
caller stays keypad-only.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
import time
import wave
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from ivr.speech.resample import Resampler, alaw_to_slin, rms, ulaw_to_slin

log = logging.getLogger(__name__)

T = TypeVar("T")

PHONE_RATE = 8000
"""Sample rate of Asterisk slin / AudioSocket audio."""

MODEL_ENV = "HOTLINE_VOSK_MODEL"
"""Environment variable with the model directory (see :meth:`SpeechEngine.from_env`)."""

UNK = "[unk]"

ResampleMode = Literal["auto", "kaldi", "audioop"]


class SpeechUnavailable(RuntimeError):
    """No usable model: the caller should go keypad-only."""


class UnsupportedAudio(ValueError):
    """A recording in a format the engine cannot read."""


class EndReason(StrEnum):
    ENDPOINT = "endpoint"
    """Vosk's endpoint: AcceptWaveform() returned True with words."""
    SILENCE = "silence"
    """Trailing silence (energy) after speech."""
    NO_SPEECH = "no-speech"
    """No speech within ``no_input_timeout`` of audio."""
    MAX_UTTERANCE = "max-utterance"
    """Speech went on for longer than ``max_utterance``."""
    FINISHED = "finished"
    """The caller called :meth:`Recogniser.finish` (end of file, end of stream)."""
    DTMF = "dtmf"
    """The caller pressed a key (barge-in); ``Final.dtmf`` holds the digit."""
    HANGUP = "hangup"
    """Asterisk closed the stream (caller hung up, or AudioSocket ended)."""
    TIMEOUT = "timeout"
    """A wall-clock timeout: no connection, no audio, or the session deadline."""
    CANCELLED = "cancelled"
    """The session was cancelled (shutdown, or by the call flow)."""
    ERROR = "error"
    """Protocol or engine error (logged)."""
    UNAVAILABLE = "unavailable"
    """No model: keypad only."""


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    conf: float
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Partial:
    """Recognition still in progress.

    ``text`` is Vosk's partial hypothesis when the recogniser was created with
    ``partials=True`` (it costs a traceback per call), otherwise empty.
    """

    text: str
    audio_time: float
    speech_started: bool


@dataclass(frozen=True, slots=True)
class Final:
    """The result of one recognition session."""

    text: str
    """Recognised words separated by spaces (may contain ``[unk]``); ``dtmf:5``
    for a keypad barge-in."""
    reason: EndReason
    confidence: float = 0.0
    """Average of the per-word confidences (0.0 without words)."""
    words: tuple[Word, ...] = ()
    audio_time: float = 0.0
    """Seconds of audio consumed when the result was decided."""
    speech_start: float | None = None
    """Audio time of the start of speech (energy), None if none was heard."""
    speech_end: float | None = None
    """Audio time of the end of speech: the end of the last voiced frame, or of
    the last word when the energy detector heard nothing."""
    elapsed: float = 0.0
    """Wall-clock seconds from the first audio to the result."""
    decided_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` when the result was decided."""
    dtmf: str | None = None
    filled_time: float = 0.0
    """Seconds of ``audio_time`` that were filled in (nothing came from the
    line: silence suppression, or a stall of the stream); the rest was
    heard and decoded."""

    @property
    def recognised(self) -> bool:
        """True when words were recognised (whatever ended the utterance)."""
        return bool(self.text) and self.reason is not EndReason.DTMF

    @property
    def endpoint_delay(self) -> float | None:
        """Audio seconds between the end of speech and the decision."""
        if self.speech_end is None:
            return None
        return max(0.0, self.audio_time - self.speech_end)


@dataclass(frozen=True, slots=True)
class Endpointing:
    """When an utterance ends. Durations are audio seconds."""

    no_input_timeout: float = 5.0
    max_utterance: float = 15.0
    trailing_silence: float = 0.8
    energy_threshold: int = 300
    """RMS of a 20 ms frame (0..32767) at or above which the frame is speech.
    300 is about -40 dBFS: above a normal phone line's noise floor."""
    min_speech: float = 0.06
    """Voiced audio needed before speech counts as started (clicks are shorter)."""
    use_vosk_endpoint: bool = True
    complete: Callable[[str], bool] | None = None
    """Optional test of the text said so far (e.g. "as many digits as a meter
    has"): when it holds at a pause of ``complete_silence``, the utterance ends
    there (``ENDPOINT``) instead of waiting for the model's or the energy rule."""
    complete_silence: float = 0.2
    stall_grace: float = 1.0
    """Time filled in (no audio arrived) that the trailing-silence rule does
    not count. A stream that stalls (the caller's channel thread starved on a
    busy machine, its audio arriving later in a burst) looks exactly like a
    line that went quiet; counting the stall cut words in two (the soak:
    «삼 육 이» heard as «삼 이»). A line that really stops sending (silence
    suppression) ends the utterance ``stall_grace`` later; a line that sends
    its silence is not affected."""
    continuous: bool = False
    """Record mode: keep every Vosk segment until :meth:`Recogniser.finish`;
    no endpoint/timeout rules apply (used by :meth:`SpeechEngine.recognise_file`)."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    path: Path
    sample_rate: int
    allow_upsample: bool
    allow_downsample: bool


def read_model_info(path: Path) -> ModelInfo:
    """Read the feature rate from ``conf/mfcc.conf`` (Kaldi's default is 16 kHz)."""
    options: dict[str, str] = {}
    conf = path / "conf" / "mfcc.conf"
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("--") and "=" in line:
            key, value = line[2:].split("=", 1)
            options[key.strip()] = value.strip()

    def flag(name: str) -> bool:
        return options.get(name, "false").lower() in {"true", "1"}

    rate = int(float(options.get("sample-frequency", "16000")))
    return ModelInfo(path, rate, flag("allow-upsample"), flag("allow-downsample"))


_SLIN_RATES = {
    ".sln": 8000,
    ".raw": 8000,
    ".slin": 8000,
    ".sln12": 12000,
    ".sln16": 16000,
    ".sln24": 24000,
    ".sln32": 32000,
    ".sln44": 44100,
    ".sln48": 48000,
    ".sln96": 96000,
    ".sln192": 192000,
}


def load_audio_file(path: Path, *, max_seconds: float = 120.0) -> tuple[bytes, int]:
    """Read a recording made by Asterisk's Record()/MixMonitor: ``(slin, rate)``.

    Formats: ``.wav`` (PCM, mono or stereo, 16-bit), ``.wav16``, ``.sln`` /
    ``.raw`` (8 kHz), ``.sln16`` etc., ``.ulaw``/``.pcm``, ``.alaw``. GSM
    (``.gsm``, ``.WAV``) is not decoded: record in ``wav`` or ``sln``.
    """
    suffix = path.suffix.lower()
    size = path.stat().st_size
    if suffix in {".wav", ".wav16"}:
        try:
            with wave.open(str(path), "rb") as wav:
                rate = wav.getframerate()
                channels = wav.getnchannels()
                width = wav.getsampwidth()
                frames = wav.getnframes()
                if width != 2 or channels not in (1, 2):
                    raise UnsupportedAudio(
                        f"{path}: {channels} channel(s) of {8 * width}-bit PCM; "
                        "expected 16-bit mono"
                    )
                if frames / rate > max_seconds:
                    raise UnsupportedAudio(f"{path}: longer than {max_seconds:g} s")
                data = wav.readframes(frames)
        except (wave.Error, EOFError) as exc:
            raise UnsupportedAudio(f"{path}: not a PCM WAV file ({exc})") from exc
        if channels == 2:
            data = b"".join(data[i : i + 2] for i in range(0, len(data), 4))
        return data, rate
    if suffix in _SLIN_RATES:
        rate = _SLIN_RATES[suffix]
        if size > max_seconds * rate * 2:
            raise UnsupportedAudio(f"{path}: longer than {max_seconds:g} s")
        return path.read_bytes(), rate
    if suffix in {".ulaw", ".pcm", ".mu", ".mulaw", ".alaw", ".al"}:
        if size > max_seconds * PHONE_RATE:
            raise UnsupportedAudio(f"{path}: longer than {max_seconds:g} s")
        data = path.read_bytes()
        decode = alaw_to_slin if suffix in {".alaw", ".al"} else ulaw_to_slin
        return decode(data), PHONE_RATE
    raise UnsupportedAudio(f"{path}: unsupported recording format {suffix or '(none)'}")


class Recogniser:
    """One recognition session: not thread-safe for concurrent use by design,
    but every call takes a lock, so a late ``finish()`` from a timeout path
    waits for a running ``feed()`` instead of corrupting the decoder.

    Create with :meth:`SpeechEngine.recogniser` (sync, e.g. in a worker) or
    :meth:`SpeechEngine.open` (async, in the pool). Feed it through
    :meth:`SpeechEngine.feed` from async code, or directly from a worker thread.
    """

    FRAME_SECONDS = 0.02

    def __init__(
        self,
        *,
        kaldi: Any,
        model: Any,
        sample_rate: int,
        resampler: Resampler | None,
        endpointing: Endpointing,
        grammar: tuple[str, ...] | None,
        partials: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        """The shared Vosk model (the same object for every recogniser)."""
        self.sample_rate = sample_rate
        self.grammar = grammar
        self.endpointing = endpointing
        self._kaldi: Any = kaldi
        self._resampler = resampler
        self._partials = partials
        self._clock = clock
        self._lock = threading.Lock()
        self._frame_bytes = int(sample_rate * self.FRAME_SECONDS) * 2
        self._buf = bytearray()
        self._samples = 0
        self._filled_samples = 0
        self._pause_filled_time = 0.0
        """Seconds filled in since the last voiced frame."""
        self._voiced_run = 0
        self._speech_start: float | None = None
        self._last_voice_end: float | None = None
        self._pause_filled = False
        """Some of the silence since the last voiced frame was filled in."""
        self._pause_decoded = False
        """This pause already had its final decode."""
        self._filled_rest = 0
        """Samples of filled-in time short of a whole frame, carried over."""
        self._segments: list[dict[str, Any]] = []
        self._started: float | None = None
        self._final: Final | None = None

    @property
    def audio_time(self) -> float:
        return self._samples / self.sample_rate

    @property
    def final(self) -> Final | None:
        return self._final

    @property
    def speech_started(self) -> bool:
        return self._speech_start is not None

    def feed(self, pcm: bytes, *, filled: bool = False) -> Partial | Final:
        """Accept slin at ``sample_rate``; returns the Final once the utterance ended
        (and the same Final for every later call).

        ``filled``: the audio did not come from the line but stands for time
        that passed with nothing received (zeros from the stream's gap fill):
        it advances the end-pointing clock as silence, and is not decoded."""
        with self._lock:
            if self._final is not None:
                return self._final
            if self._started is None:
                self._started = self._clock()
            if filled:
                self._pause_filled = True
                return self._pass_time(len(pcm) // 2)
            self._buf += pcm
            fb = self._frame_bytes
            offset = 0
            end = len(self._buf) - len(self._buf) % fb
            while offset < end:
                frame = bytes(self._buf[offset : offset + fb])
                offset += fb
                final = self._process_frame(frame)
                if final is not None:
                    self._buf.clear()
                    return final
            del self._buf[:offset]
            text = ""
            if self._partials:
                text = json.loads(self._kaldi.PartialResult()).get("partial", "")
            return Partial(text, self.audio_time, self.speech_started)

    def finish(self, reason: EndReason = EndReason.FINISHED) -> Final:
        """End the session now: decode what is buffered and return the Final."""
        with self._lock:
            if self._final is not None:
                return self._final
            if self._started is None:
                self._started = self._clock()
            rest = bytes(self._buf[: len(self._buf) - len(self._buf) % 2])
            self._buf.clear()
            if rest:
                self._samples += len(rest) // 2
                self._kaldi.AcceptWaveform(self._convert(rest))
            return self._conclude(json.loads(self._kaldi.FinalResult()), reason)

    def _convert(self, frame: bytes) -> bytes:
        return self._resampler.convert(frame) if self._resampler is not None else frame

    def _pass_time(self, samples: int) -> Partial | Final:
        """Time that passed with no audio from the line: end-pointing sees it
        as silence, frame by frame; the recogniser sees nothing, so a word
        whose rest arrives after a stall stays whole."""
        frame_samples = self._frame_bytes // 2
        samples += self._filled_rest
        self._filled_rest = samples % frame_samples
        for _ in range(samples // frame_samples):
            final = self._process_frame(b"", samples=frame_samples)
            if final is not None:
                return final
        return Partial("", self.audio_time, self.speech_started)

    def _process_frame(self, frame: bytes, *, samples: int = 0) -> Final | None:
        """One frame of line audio, or (``frame`` empty) ``samples`` of time
        with no audio, which counts as silence and is not decoded."""
        ep = self.endpointing
        self._samples += len(frame) // 2 if frame else samples
        if not frame:
            self._filled_samples += samples
            self._pause_filled_time += samples / self.sample_rate
        now = self.audio_time
        if not frame:
            self._voiced_run = 0
        elif rms(frame) >= ep.energy_threshold:
            self._voiced_run += 1
            self._last_voice_end = now
            self._pause_filled = self._pause_decoded = False
            self._pause_filled_time = 0.0
            if (
                self._speech_start is None
                and self._voiced_run * self.FRAME_SECONDS >= ep.min_speech - 1e-9
            ):
                self._speech_start = now - self._voiced_run * self.FRAME_SECONDS
        else:
            self._voiced_run = 0
        if frame and self._kaldi.AcceptWaveform(self._convert(frame)):
            segment = json.loads(self._kaldi.Result())
            if segment.get("text"):
                if ep.continuous:
                    self._segments.append(segment)
                elif ep.use_vosk_endpoint:
                    return self._conclude(segment, EndReason.ENDPOINT)
                else:
                    self._segments.append(segment)
        if ep.continuous:
            return None
        if self._speech_start is not None:
            assert self._last_voice_end is not None
            silent_for = now - self._last_voice_end
            if ep.complete is not None and silent_for >= ep.complete_silence - 1e-9:
                if not self._pause_filled and not self._pause_decoded:
                    # A real pause: decode to the end of what was said.
                    self._pause_decoded = True
                    segment = json.loads(self._kaldi.FinalResult())
                    if segment.get("text"):
                        self._segments.append(segment)
                    if ep.complete(self._said_so_far()):
                        return self._conclude({}, EndReason.ENDPOINT)
                elif ep.complete(self._said_so_far()):
                    return self._conclude(json.loads(self._kaldi.FinalResult()), EndReason.ENDPOINT)
            heard_silence = silent_for - min(self._pause_filled_time, ep.stall_grace)
            if heard_silence >= ep.trailing_silence - 1e-9:
                return self._conclude(json.loads(self._kaldi.FinalResult()), EndReason.SILENCE)
            if now - self._speech_start >= ep.max_utterance - 1e-9:
                return self._conclude(
                    json.loads(self._kaldi.FinalResult()), EndReason.MAX_UTTERANCE
                )
        elif now >= ep.no_input_timeout - 1e-9:
            return self._conclude(json.loads(self._kaldi.FinalResult()), EndReason.NO_SPEECH)
        return None

    def _said_so_far(self) -> str:
        """Kept segments and the partial result. The partial shows the last
        word ~0.28 s after it was said (bench/speech.py, section 5), so a pause
        that was filled in (a stall of the stream under load looks like a
        pause; a final decode there cut words in two, seen in CI) decides
        later than a real one, which gets its final decode."""
        partial = json.loads(self._kaldi.PartialResult()).get("partial", "")
        return " ".join(
            [str(seg["text"]) for seg in self._segments if seg.get("text")] + [partial]
        ).strip()

    def _conclude(self, last: Mapping[str, Any], reason: EndReason) -> Final:
        segments = [*self._segments, last] if last.get("text") else list(self._segments)
        words = tuple(
            Word(str(w["word"]), float(w.get("conf", 1.0)), float(w["start"]), float(w["end"]))
            for seg in segments
            for w in seg.get("result", ())
        )
        text = " ".join(str(seg["text"]) for seg in segments if seg.get("text"))
        confidence = sum(w.conf for w in words) / len(words) if words else 0.0
        speech_end = self._last_voice_end if self._speech_start is not None else None
        if speech_end is None and words:
            speech_end = words[-1].end
        decided = self._clock()
        self._final = Final(
            text=text,
            reason=reason,
            confidence=confidence,
            words=words,
            audio_time=self.audio_time,
            speech_start=self._speech_start,
            speech_end=speech_end,
            elapsed=decided - (self._started if self._started is not None else decided),
            decided_at=decided,
            filled_time=self._filled_samples / self.sample_rate,
        )
        # Free the decoder (a few MB) as soon as the session is over.
        self._kaldi = None
        return self._final


@dataclass(frozen=True, slots=True)
class _Prepared:
    grammar: tuple[str, ...] | None
    json: str | None


class SpeechEngine:
    """The process-wide speech engine: one model, one bounded worker pool.

    Owned by the application::

        engine = SpeechEngine(os.environ.get("HOTLINE_VOSK_MODEL"))
        await engine.start()          # loads the model off the loop (optional)
        ...
        await engine.close()          # shuts the pool down

    ``async with SpeechEngine(path) as engine:`` does the same.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None,
        *,
        workers: int | None = None,
        endpointing: Endpointing | None = None,
        resample: ResampleMode = "auto",
        load_timeout: float = 120.0,
        call_timeout: float = 30.0,
        vosk_log_level: int = -1,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.workers = max(1, workers or os.cpu_count() or 2)
        self.endpointing = endpointing or Endpointing()
        self.resample: ResampleMode = resample
        self.load_timeout = load_timeout
        self.call_timeout = call_timeout
        self._vosk_log_level = vosk_log_level
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._model: Any = None
        self._info: ModelInfo | None = None
        self._failure: str | None = None
        self._grammars: dict[tuple[str, ...], _Prepared] = {}
        self._closed = False
        self.load_count = 0
        """How many times a model was constructed (1 after the first use)."""
        if self.model_path is None:
            self._failure = (
                f"speech recognition disabled: no Vosk model configured ({MODEL_ENV}); "
                "meter readings are keypad-only"
            )
            log.warning("%s", self._failure)
        elif not (self.model_path / "am").is_dir() and not (self.model_path / "conf").is_dir():
            self._failure = (
                f"speech recognition disabled: {self.model_path} is not a Vosk model "
                "directory (no am/ or conf/); meter readings are keypad-only"
            )
            log.error("%s", self._failure)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> SpeechEngine:
        """Engine for the model directory named by ``HOTLINE_VOSK_MODEL`` (may be unset)."""
        source = os.environ if env is None else env
        return cls(source.get(MODEL_ENV) or None, **kwargs)

    # -- state --------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False when there is no usable model: callers go keypad-only."""
        return self._failure is None and not self._closed

    @property
    def unavailable_reason(self) -> str | None:
        if self._closed:
            return "speech engine closed"
        return self._failure

    @property
    def model(self) -> Any:
        """The loaded Vosk model, or None before the first use."""
        return self._model

    @property
    def model_info(self) -> ModelInfo | None:
        return self._info

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> bool:
        """Load the model in the pool (bounded by ``load_timeout``); returns ``available``."""
        if not self.available:
            return False
        try:
            await self.run(self.load, timeout=self.load_timeout)
        except TimeoutError:
            self._failure = (
                f"speech recognition disabled: loading {self.model_path} took longer than "
                f"{self.load_timeout:g} s; meter readings are keypad-only"
            )
            log.error("%s", self._failure)
        except SpeechUnavailable:
            pass
        return self.available

    async def close(self) -> None:
        """Stop the pool; running Vosk calls finish in their threads, queued ones are dropped."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> SpeechEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def load(self) -> Any:
        """Load the model once (thread-safe; blocking: call from a worker or at start-up)."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is not None:
                return self._model
            if self._failure is not None:
                raise SpeechUnavailable(self._failure)
            assert self.model_path is not None
            started = time.monotonic()
            try:
                import vosk

                vosk.SetLogLevel(self._vosk_log_level)
                model = vosk.Model(str(self.model_path))
            except Exception as exc:
                self._failure = (
                    f"speech recognition disabled: cannot load Vosk model "
                    f"{self.model_path}: {exc}; meter readings are keypad-only"
                )
                log.error("%s", self._failure)
                raise SpeechUnavailable(self._failure) from exc
            self.load_count += 1
            self._info = read_model_info(self.model_path)
            self._model = model
            log.info(
                "Vosk model %s loaded in %.2f s (%d Hz)",
                self.model_path,
                time.monotonic() - started,
                self._info.sample_rate,
            )
            return model

    # -- pool ---------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        if self._closed:
            raise SpeechUnavailable("speech engine closed")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vosk")
        return self._pool

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run ``fn(*args)`` in the engine's pool, waiting at most ``timeout``
        (default ``call_timeout``). On timeout the call keeps running in its thread."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor(), fn, *args)
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
        # arrives just as the call completes, which would leak the cancelled task.
        async with asyncio.timeout(self.call_timeout if timeout is None else timeout):
            return await future

    # -- recognisers --------------------------------------------------------------------

    def _prepare_grammar(self, model: Any, grammar: Sequence[str] | None) -> _Prepared:
        if grammar is None:
            return _Prepared(None, None)
        key = tuple(grammar)
        with self._lock:
            cached = self._grammars.get(key)
        if cached is not None:
            return cached
        seen: dict[str, None] = {}
        missing: list[str] = []
        for entry in key:
            phrase = " ".join(entry.lower().split())
            if not phrase or phrase == UNK:
                continue
            if all(model.vosk_model_find_word(token) >= 0 for token in phrase.split()):
                seen.setdefault(phrase)
            else:
                missing.append(phrase)
        if missing:
            log.warning("grammar words not in the model's vocabulary, ignored: %s", missing)
        if not seen:
            raise ValueError(f"no grammar word is in the model's vocabulary: {list(key)}")
        words = list(seen)
        if model.vosk_model_find_word(UNK) >= 0:
            words.append(UNK)
        else:
            log.info("model %s has no %s word: grammar without it", self.model_path, UNK)
        prepared = _Prepared(tuple(words), json.dumps(words, ensure_ascii=False))
        with self._lock:
            self._grammars[key] = prepared
        return prepared

    def recogniser(
        self,
        grammar: Sequence[str] | None = None,
        sample_rate: int = PHONE_RATE,
        *,
        endpointing: Endpointing | None = None,
        partials: bool = False,
    ) -> Recogniser:
        """A new session on the shared model (blocking on the first call if the
        model is not loaded yet). ``grammar``: words or phrases the caller may say;
        ``[unk]`` is added when the model knows it. Raises SpeechUnavailable."""
        if not self.available:
            raise SpeechUnavailable(self.unavailable_reason or "speech unavailable")
        model = self.load()
        info = self._info
        assert info is not None
        prepared = self._prepare_grammar(model, grammar)
        resampler: Resampler | None = None
        decode_rate = sample_rate
        if sample_rate != info.sample_rate:
            kaldi_can = (
                info.allow_upsample if sample_rate < info.sample_rate else info.allow_downsample
            )
            mode = self.resample
            if mode == "auto":
                mode = "kaldi" if kaldi_can else "audioop"
            if mode == "audioop":
                resampler = Resampler(sample_rate, info.sample_rate)
                decode_rate = info.sample_rate
            elif not kaldi_can:
                raise ValueError(
                    f"model {info.path} is {info.sample_rate} Hz and its mfcc.conf does not "
                    f"allow resampling from {sample_rate} Hz; use resample='audioop'"
                )
        import vosk

        if prepared.json is not None:
            kaldi = vosk.KaldiRecognizer(model, float(decode_rate), prepared.json)
        else:
            kaldi = vosk.KaldiRecognizer(model, float(decode_rate))
        kaldi.SetWords(True)
        return Recogniser(
            kaldi=kaldi,
            model=model,
            sample_rate=sample_rate,
            resampler=resampler,
            endpointing=endpointing or self.endpointing,
            grammar=prepared.grammar,
            partials=partials,
        )

    async def open(
        self,
        grammar: Sequence[str] | None = None,
        sample_rate: int = PHONE_RATE,
        *,
        endpointing: Endpointing | None = None,
        partials: bool = False,
    ) -> Recogniser:
        """:meth:`recogniser`, created in the pool (the first call may load the model)."""
        if not self.available:
            raise SpeechUnavailable(self.unavailable_reason or "speech unavailable")
        timeout = self.call_timeout + (self.load_timeout if self._model is None else 0.0)
        return await self.run(
            lambda: self.recogniser(
                grammar, sample_rate, endpointing=endpointing, partials=partials
            ),
            timeout=timeout,
        )

    async def feed(
        self,
        rec: Recogniser,
        pcm: bytes,
        *,
        filled: bool = False,
        timeout: float | None = None,
    ) -> Partial | Final:
        """``rec.feed(pcm, filled=...)`` in the pool. Raises TimeoutError after
        ``timeout``."""
        return await self.run(functools.partial(rec.feed, pcm, filled=filled), timeout=timeout)

    async def finish(
        self,
        rec: Recogniser,
        reason: EndReason = EndReason.FINISHED,
        *,
        timeout: float | None = None,
    ) -> Final:
        """``rec.finish(reason)`` in the pool. Raises TimeoutError after ``timeout``."""
        return await self.run(rec.finish, reason, timeout=timeout)

    # -- whole buffers and files --------------------------------------------------------

    def _recognise_sync(
        self,
        pcm: bytes,
        sample_rate: int,
        grammar: Sequence[str] | None,
        endpointing: Endpointing,
        chunk_seconds: float,
    ) -> Final:
        rec = self.recogniser(grammar, sample_rate, endpointing=endpointing)
        step = max(2, int(sample_rate * chunk_seconds) * 2)
        for offset in range(0, len(pcm), step):
            result = rec.feed(pcm[offset : offset + step])
            if isinstance(result, Final):
                return result
        return rec.finish(EndReason.FINISHED)

    async def recognise_pcm(
        self,
        pcm: bytes,
        grammar: Sequence[str] | None = None,
        sample_rate: int = PHONE_RATE,
        *,
        endpointing: Endpointing | None = None,
        timeout: float | None = None,
        chunk_seconds: float = 0.1,
    ) -> Final:
        """Recognise a whole slin buffer in one pool call (stops at the first Final).

        Never raises for the expected failures: no model -> ``UNAVAILABLE``,
        ``timeout`` -> ``TIMEOUT``, engine errors -> ``ERROR`` (logged)."""
        if not self.available:
            return Final("", EndReason.UNAVAILABLE)
        budget = self.call_timeout if timeout is None else timeout
        if self._model is None:
            budget += self.load_timeout
        try:
            return await self.run(
                self._recognise_sync,
                pcm,
                sample_rate,
                grammar,
                endpointing or self.endpointing,
                chunk_seconds,
                timeout=budget,
            )
        except TimeoutError:
            log.warning(
                "speech recognition of %.1f s of audio timed out", len(pcm) / 2 / sample_rate
            )
            return Final("", EndReason.TIMEOUT)
        except SpeechUnavailable:
            return Final("", EndReason.UNAVAILABLE)
        except Exception:
            log.exception("speech recognition failed")
            return Final("", EndReason.ERROR)

    async def recognise_file(
        self,
        path: str | os.PathLike[str],
        grammar: Sequence[str] | None = None,
        *,
        endpointing: Endpointing | None = None,
        timeout: float | None = None,
        max_seconds: float = 120.0,
    ) -> Final:
        """Record-then-recognise fallback: a file written by Asterisk's Record().

        The whole recording is decoded (every Vosk segment is kept; Record()
        already stopped at the caller's silence). ``.wav`` (8/16 kHz PCM),
        ``.sln``/``.raw`` (8 kHz), ``.sln16`` etc., ``.ulaw``, ``.alaw``.
        Unreadable files give ``EndReason.ERROR`` (logged)."""
        if not self.available:
            return Final("", EndReason.UNAVAILABLE)
        file_path = Path(path)
        try:
            pcm, rate = await self.run(
                lambda: load_audio_file(file_path, max_seconds=max_seconds),
                timeout=self.call_timeout,
            )
        except (OSError, UnsupportedAudio) as exc:
            log.warning("cannot recognise %s: %s", file_path, exc)
            return Final("", EndReason.ERROR)
        except TimeoutError:
            log.warning("reading %s timed out", file_path)
            return Final("", EndReason.TIMEOUT)
        ep = replace(endpointing or self.endpointing, continuous=True)
        return await self.recognise_pcm(
            pcm, grammar, rate, endpointing=ep, timeout=timeout, chunk_seconds=0.5
        )
