"""The message builder (issue 15): steps of every kind, the preview as the
callee hears it, uploaded recordings converted by the real sox (and refused
when garbled), kept in the database for every node; campaign values (the
outage period of the form) reach the message and the list import."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoinformer.builder import (
    BuilderError,
    MessageBuilder,
    convert,
    describe,
    sox_reads,
    step_from_form,
)
from autoinformer.campaigns import (
    CampaignService,
    Kind,
    ScenarioError,
    preview_text,
    validate_scenario,
)
from autoinformer.contacts import ContactListService
from autoinformer.models import CampaignRecording
from crm_bridge.db import Database
from tests.autoinformer.helpers import make_accounts

TEXTS = {
    "outbound/greeting": "Здравствуйте! Вас беспокоит энергосбытовая компания",
    "outbound/debt_amount": "Сумма задолженности составляет",
    "outbound/debt_request": "Просим оплатить задолженность.",
    "outbound/repeat_hint": "Чтобы прослушать сообщение ещё раз, нажмите один.",
    "outbound/operator_hint": "Для соединения с оператором нажмите ноль.",
    "outbound/outage_notice": "Плановое отключение электроэнергии",
}


def tone(seconds: float = 1.0, rate: int = 44100, channels: int = 2) -> bytes:
    """A real WAV file as an office would record it (44.1 kHz stereo)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            v = int(8000 * math.sin(2 * math.pi * 440 * i / rate))
            frames += struct.pack("<h", v) * channels
        w.writeframes(bytes(frames))
    return buf.getvalue()


def mp3_tone(seconds: float, tmp_path: Path) -> bytes:
    """:func:`tone` as an MP3 file (sox encodes it with LAME)."""
    src, dst = tmp_path / "tone.wav", tmp_path / "tone.mp3"
    src.write_bytes(tone(seconds))
    subprocess.run(["sox", str(src), str(dst)], check=True, capture_output=True)
    return dst.read_bytes()


def test_every_kind_of_step_is_validated() -> None:
    steps = validate_scenario(
        [
            {"prompt": "outbound/greeting"},
            {"audio": "upload/c7_0123456789abcdef", "title": "обращение.wav"},
            {"say": "money", "var": "debt"},
            {"say": "date", "value": "2026-12-20"},
            {"question": "outbound/greeting", "keys": "1122", "name": "Согласие"},
        ]
    )
    assert steps[3] == {"say": "date", "value": "2026-12-20"}
    assert steps[4]["keys"] == "12"  # each key once
    for bad, message in [
        ({"audio": "../../etc/passwd"}, "неверная запись"),
        ({"say": "date", "value": "тридцатое февраля"}, "нельзя произнести как дату"),
        ({"question": "outbound/greeting", "keys": "", "name": "x"}, "клавиши"),
        ({"question": "outbound/greeting", "keys": "1a", "name": "x"}, "клавиши"),
        ({"question": "outbound/greeting", "keys": "1", "name": " "}, "в отчёте"),
        ({"question": "a b", "keys": "1", "name": "x"}, "неверная фраза"),
        ({"beep": 1}, "нужен prompt, audio, say или question"),
    ]:
        with pytest.raises(ScenarioError, match=message):
            validate_scenario([bad])


def test_the_preview_ends_with_the_keys_and_keeps_the_full_stops() -> None:
    steps = [
        {"prompt": "outbound/greeting"},
        {"prompt": "outbound/debt_amount"},
        {"say": "money", "var": "debt"},
        {"prompt": "outbound/debt_request"},
    ]
    text = preview_text(steps, {"debt": "1500.25"}, TEXTS.__getitem__)
    # A full stop where a sentence ends before the next one starts; the
    # closing hints say what 1 and 0 do.
    assert text.startswith(
        "Здравствуйте! Вас беспокоит энергосбытовая компания. Сумма задолженности составляет "
    ), text
    assert "пятьсот рублей двадцать пять копеек. Просим оплатить задолженность. " in text
    assert text.endswith(
        "Чтобы прослушать сообщение ещё раз, нажмите один. "
        "Для соединения с оператором нажмите ноль."
    ), text
    assert "нажмите ноль" not in preview_text(
        steps, {"debt": "1"}, TEXTS.__getitem__, with_hints=False
    )


def test_form_fields_in_russian_formats() -> None:
    assert step_from_form(
        {"type": "say", "say": "date", "source": "value", "value": "20.12.2026"}
    ) == {
        "say": "date",
        "value": "2026-12-20",
    }
    assert step_from_form(
        {"type": "say", "say": "datetime", "source": "value", "value": "07.12.2026 10:00"}
    ) == {"say": "datetime", "value": "2026-12-07T10:00"}
    assert step_from_form({"type": "say", "say": "money", "source": "contact", "var": "debt"}) == {
        "say": "money",
        "var": "debt",
    }
    with pytest.raises(BuilderError, match=r"ДД\.ММ\.ГГГГ"):
        step_from_form({"type": "say", "say": "date", "source": "value", "value": "2026/12/20"})
    with pytest.raises(BuilderError, match="файл"):
        step_from_form({"type": "audio"})
    assert describe({"say": "money", "var": "debt"}, TEXTS.__getitem__) == (
        "Произнести сумму из столбца «debt»"
    )


def test_a_question_asks_keys_or_an_estimate_from_0_to_10() -> None:
    """REQ-A13: the builder's question step answers by the keys given, or as
    an NPS estimate 0–10 (ten keyed 1 then 0), whatever the question's name."""
    keys = step_from_form(
        {"type": "question", "prompt": "survey/csi", "keys": "1 2", "name": "Согласие"}
    )
    assert keys == {"question": "survey/csi", "keys": "12", "name": "Согласие"}
    estimate = step_from_form(
        {"type": "question", "prompt": "survey/nps", "scale": "nps", "keys": "", "name": "Оценка"}
    )
    assert estimate == {
        "question": "survey/nps",
        "keys": "0123456789",
        "name": "Оценка",
        "scale": "nps",
    }
    (checked,) = validate_scenario([estimate])
    assert checked["scale"] == "nps" and checked["name"] == "Оценка"
    assert describe(estimate, TEXTS.__getitem__).endswith(
        "ответ — оценка от 0 до 10 (десять — 1, затем 0)"
    )
    assert describe(keys, TEXTS.__getitem__).endswith("ответ — клавиши 12")


def test_a_recording_is_converted_to_8_khz_mono_or_refused() -> None:
    wav, seconds = convert(tone(1.0), "wav")
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert abs(w.getnframes() / 8000 - 1.0) < 0.05
    assert seconds == 1.0
    with pytest.raises(BuilderError, match="повреждён или это не звук"):
        convert(b"RIFF\x00\x00\x00\x00WAVEgarbage" + bytes(range(256)) * 4, "wav")
    with pytest.raises(BuilderError, match="повреждён или это не звук"):
        convert(b"%PDF-1.7 not a sound", "ogg")


def test_an_mp3_recording_is_converted_too(tmp_path: Path) -> None:
    """Offices keep their recordings as MP3 (sox's MP3 handler, bootstrap)."""
    assert sox_reads("mp3"), "libsox-fmt-mp3 is missing: scripts/bootstrap.sh installs it"
    mp3 = mp3_tone(1.0, tmp_path)
    assert mp3[:3] == b"ID3" or mp3[:2] == b"\xff\xfb", mp3[:4]
    wav, seconds = convert(mp3, "mp3")
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
    assert 0.9 <= seconds <= 1.2, seconds  # an MP3 decoder pads a few frames


def test_builder_edits_steps_and_keeps_recordings_for_every_node(
    any_db: Database, tmp_path: Path
) -> None:
    campaigns = CampaignService(any_db)
    cid = campaigns.create("Долги", Kind.DEBT, created_by="disp")
    builder = MessageBuilder(campaigns, tmp_path / "node1")
    up = builder.upload(cid, tone(0.5), "Обращение директора.wav", by="disp")
    assert up.prompt_id.startswith(f"upload/c{cid}_") and up.seconds == 0.5
    assert (tmp_path / "node1" / f"{up.prompt_id}.wav").exists()
    builder.add(cid, {"audio": up.prompt_id, "title": "Обращение директора.wav"}, by="disp", at=1)
    builder.add(cid, {"say": "date", "value": "2026-12-20"}, by="disp")
    steps = campaigns.get(cid).scenario
    assert steps[1]["audio"] == up.prompt_id and steps[-1] == {"say": "date", "value": "2026-12-20"}
    builder.move(cid, 1, -1, by="disp")
    assert campaigns.get(cid).scenario[0]["audio"] == up.prompt_id
    builder.remove(cid, 0, by="disp")
    assert all("audio" not in s for s in campaigns.get(cid).scenario)
    with pytest.raises(BuilderError, match="дальше"):
        builder.move(cid, 0, -1, by="disp")
    with pytest.raises(BuilderError, match="повреждён или это не звук"):
        builder.upload(cid, b"ID3...", "message.mp3")
    with pytest.raises(BuilderError, match="WAV, MP3, OGG и FLAC"):
        builder.upload(cid, b"MThd", "message.mid")
    # Another node has no file yet: it is written from the database.
    other = MessageBuilder(campaigns, tmp_path / "node2")
    assert other.materialise(up.prompt_id)
    assert other.path(up.prompt_id).read_bytes() == builder.path(up.prompt_id).read_bytes()
    assert not other.materialise(f"upload/c{cid}_ffffffffffffffff")
    with any_db.session() as s:
        assert s.get(CampaignRecording, up.prompt_id) is not None
    builder.use_template(cid, "payment_reminder", by="disp")
    assert campaigns.get(cid).scenario[1] == {"prompt": "outbound/payment_due"}
    assert "disp" in campaigns.editors(cid)


def test_the_outage_period_of_the_form_reaches_the_message_and_the_import(
    any_db: Database,
) -> None:
    """Issue 15: dates typed in the campaign's form never reached the
    message, and residents without outage columns were refused."""
    campaigns = CampaignService(any_db)
    cid = campaigns.create(
        "Отключение",
        Kind.PLANNED_OUTAGE,
        created_by="disp",
        outage_start=datetime(2026, 12, 20, 5, 30, tzinfo=UTC),
        outage_end=datetime(2026, 12, 20, 14, 0, tzinfo=UTC),
    )
    phones = ["+79001230001", "+79001230002"]
    make_accounts(any_db, phones, prefix="55")
    lists = ContactListService(any_db, "Europe/Moscow")
    res = lists.import_rows(cid, [{"phone": p} for p in phones], by="disp")
    assert res.accepted == 2, res.rejected
    text = campaigns.preview(cid)
    assert "[нет значения" not in text
    assert "двадцатого декабря" in text, text
