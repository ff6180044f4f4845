"""Speech recognition for the meter-reading flow (REQ-T14).

* :class:`SpeechEngine` - the process-wide Vosk model and worker pool;
* :class:`Recogniser` - one recognition session (``feed()`` / ``finish()``);
* :class:`AudioSocketServer` - Asterisk ``AudioSocket()`` streams into recognisers;
* :meth:`SpeechEngine.recognise_file` - record-then-recognise fallback.
"""

from __future__ import annotations

from ivr.speech.audiosocket import (
    AudioSocketLimits,
    AudioSocketServer,
    Expectation,
    Kind,
    encode_message,
)
from ivr.speech.engine import (
    MODEL_ENV,
    PHONE_RATE,
    Endpointing,
    EndReason,
    Final,
    ModelInfo,
    Partial,
    Recogniser,
    SpeechEngine,
    SpeechUnavailable,
    UnsupportedAudio,
    Word,
    load_audio_file,
    read_model_info,
)

__all__ = [
    "MODEL_ENV",
    "PHONE_RATE",
    "AudioSocketLimits",
    "AudioSocketServer",
    "EndReason",
    "Endpointing",
    "Expectation",
    "Final",
    "Kind",
    "ModelInfo",
    "Partial",
    "Recogniser",
    "SpeechEngine",
    "SpeechUnavailable",
    "UnsupportedAudio",
    "Word",
    "encode_message",
    "load_audio_file",
    "read_model_info",
]
