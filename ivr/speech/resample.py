"""Small PCM helpers: sample-rate conversion, RMS energy, mu-law/A-law decoding.

All audio here is signed 16-bit little-endian mono PCM ("slin").

The C implementations come from :mod:`audioop`. It is deprecated since Python
3.11 and removed in 3.13; on 3.13+ the ``audioop-lts`` package provides the same
module under the same name. When neither is importable, pure-Python fallbacks
based on :mod:`array` are used: correct, but roughly 50x slower (still far
below real time for one phone call, about 0.3 ms per 20 ms frame).

Which resampler is used for recognition is decided by
:class:`ivr.speech.engine.SpeechEngine`: by default, when the model's
``conf/mfcc.conf`` allows it (``--allow-upsample=true``), the 8 kHz phone audio
is passed to Kaldi at its own rate and Kaldi resamples inside the feature
pipeline (windowed-sinc filter, in C, without the GIL). :class:`Resampler` is
the fallback for models that do not allow it, and for ``resample="audioop"``.
"""

from __future__ import annotations

import array
import math
import sys
import warnings
from types import ModuleType


def _import_audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # Python 3.13+ without audioop-lts
            return None
    return audioop


_audioop = _import_audioop()

HAVE_AUDIOOP = _audioop is not None
"""True when the C implementation (stdlib ``audioop`` or ``audioop-lts``) is used."""

SAMPLE_WIDTH = 2
"""Bytes per sample of slin (signed 16-bit)."""


def _samples(pcm: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _to_bytes(samples: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def rms(pcm: bytes) -> int:
    """Root-mean-square amplitude of a slin chunk (0..32767)."""
    if not pcm:
        return 0
    if _audioop is not None:
        return int(_audioop.rms(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH], SAMPLE_WIDTH))
    samples = _samples(pcm)
    if not samples:
        return 0
    return int(math.sqrt(sum(s * s for s in samples) / len(samples)))


def ulaw_to_slin(data: bytes) -> bytes:
    """G.711 mu-law (Asterisk ``.ulaw``/``.pcm``) to slin."""
    if _audioop is not None:
        return bytes(_audioop.ulaw2lin(data, SAMPLE_WIDTH))
    out = array.array("h")
    for byte in data:
        u = ~byte & 0xFF
        t = ((u & 0x0F) << 3) + 0x84
        t <<= (u & 0x70) >> 4
        out.append((0x84 - t) if u & 0x80 else (t - 0x84))
    return _to_bytes(out)


def alaw_to_slin(data: bytes) -> bytes:
    """G.711 A-law (Asterisk ``.alaw``) to slin."""
    if _audioop is not None:
        return bytes(_audioop.alaw2lin(data, SAMPLE_WIDTH))
    out = array.array("h")
    for byte in data:
        a = byte ^ 0x55
        t = (a & 0x0F) << 4
        seg = (a & 0x70) >> 4
        if seg == 0:
            t += 8
        elif seg == 1:
            t += 0x108
        else:
            t = (t + 0x108) << (seg - 1)
        out.append(t if a & 0x80 else -t)
    return _to_bytes(out)


class Resampler:
    """Stateful slin sample-rate converter for a stream of chunks.

    Uses ``audioop.ratecv`` (linear interpolation with its own state, so chunk
    boundaries are seamless); the fallback is a pure-Python linear interpolator
    with the same streaming behaviour. Neither filters before interpolation:
    fine for 8 -> 16 kHz up-sampling (nothing above 4 kHz to alias), not meant
    for down-sampling wide-band audio.
    """

    __slots__ = ("_carry", "_last", "_pos", "_state", "dst_rate", "src_rate")

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError(f"bad sample rates {src_rate} -> {dst_rate}")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._state: object = None
        self._carry = b""
        self._last: int | None = None
        self._pos = 0.0

    @property
    def identity(self) -> bool:
        return self.src_rate == self.dst_rate

    def convert(self, pcm: bytes) -> bytes:
        """Convert the next chunk of the stream (any length; odd bytes are carried)."""
        data = self._carry + pcm
        usable = len(data) - len(data) % SAMPLE_WIDTH
        self._carry = data[usable:]
        data = data[:usable]
        if not data or self.identity:
            return data
        if _audioop is not None:
            out, self._state = _audioop.ratecv(
                data, SAMPLE_WIDTH, 1, self.src_rate, self.dst_rate, self._state
            )
            return bytes(out)
        return self._convert_python(data)

    def _convert_python(self, data: bytes) -> bytes:
        samples = _samples(data)
        step = self.src_rate / self.dst_rate
        out = array.array("h")
        prev = self._last if self._last is not None else samples[0]
        # Position is measured in input samples, relative to ``prev`` (index -1).
        pos = self._pos
        n = len(samples)
        while pos < n:
            i = math.floor(pos)
            frac = pos - i
            a = prev if i == 0 else samples[i - 1]
            b = samples[i]
            out.append(round(a + (b - a) * frac))
            pos += step
        self._pos = pos - n
        self._last = samples[-1]
        return _to_bytes(out)
