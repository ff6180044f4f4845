"""The dispatcher's message builder (issue 15): a campaign's scenario edited
step by step — a catalogue phrase, an uploaded recording, a spoken variable
of the contact or a value typed for the campaign, a question — from the
kind's template (:func:`autoinformer.campaigns.default_scenario`).

Uploaded recordings (WAV, MP3, OGG, FLAC; at most :data:`MAX_UPLOAD_BYTES` and
:data:`MAX_SECONDS`) are converted by sox to 8 kHz mono 16-bit WAV, kept in
the database (``ai_recordings``) and written into this node's sounds
directory; another node writes its copy when it first needs it
(:meth:`MessageBuilder.materialise`). A file sox cannot read is refused with
a Russian message, never stored.

Every change goes through :meth:`CampaignService.update_scenario`: the
editor is recorded (four eyes) and an approved campaign goes back to draft.
Service logic, no HTTP.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from autoinformer.campaigns import (
    SAY_KINDS,
    SAY_TITLES,
    CampaignError,
    CampaignService,
    Kind,
    default_scenario,
)
from autoinformer.models import CampaignRecording

log = logging.getLogger(__name__)

__all__ = [
    "CATALOGUE_GROUPS",
    "MAX_SECONDS",
    "MAX_UPLOAD_BYTES",
    "BuilderError",
    "MessageBuilder",
    "describe",
    "step_from_form",
]

MAX_UPLOAD_BYTES: Final = 20 * 1024 * 1024
MAX_SECONDS: Final = 180.0
AUDIO_TYPES: Final = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "oga": "ogg", "flac": "flac"}
"""File name suffix → sox type (MP3 needs sox's MP3 handler, Debian's
``libsox-fmt-mp3``, which ``scripts/bootstrap.sh`` installs)."""


@functools.cache
def sox_reads(sox_type: str) -> bool:
    """Whether this machine's sox reads ``sox_type`` (its ``-h`` lists the
    formats of the handlers installed); True when it cannot tell."""
    try:
        done = subprocess.run(["sox", "-h"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return True  # no sox at all: convert() says so
    for line in done.stdout.splitlines():
        if line.startswith("AUDIO FILE FORMATS:"):
            return sox_type in line.split(":", 1)[1].split()
    return True


CATALOGUE_GROUPS: Final = ("outbound", "outage", "common", "debt")
"""Catalogue groups whose phrases the builder offers."""

SAY_KIND_TITLES: Final = {
    "money": "сумма",
    "date": "дата",
    "time": "время",
    "datetime": "дата и время",
    "phone": "номер телефона",
    "account": "номер лицевого счёта",
    "number": "число",
}


class BuilderError(CampaignError):
    """A step or a recording that cannot be used; the message is for people."""


def _typed_value(kind: str, raw: str) -> str:
    """A value typed by the dispatcher in Russian formats, as the scenario keeps it."""
    raw = raw.strip()
    if kind == "date":
        for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
            try:
                return datetime.strptime(raw, fmt).date().isoformat()
            except ValueError:
                pass
        raise BuilderError(f"дата «{raw[:30]}»: ожидается ДД.ММ.ГГГГ")
    if kind == "datetime":
        for fmt in ("%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
            try:
                return datetime.strptime(raw, fmt).isoformat(timespec="minutes")
            except ValueError:
                pass
        raise BuilderError(f"дата и время «{raw[:30]}»: ожидается ДД.ММ.ГГГГ ЧЧ:ММ")
    if kind == "time":
        try:
            return datetime.strptime(raw, "%H:%M").time().isoformat(timespec="minutes")
        except ValueError:
            raise BuilderError(f"время «{raw[:30]}»: ожидается ЧЧ:ММ") from None
    return raw


def step_from_form(form: Mapping[str, Any], *, audio_id: str | None = None) -> dict[str, str]:
    """One step from the builder's form fields (``type`` and its own fields)."""
    kind = str(form.get("type") or "")
    if kind == "prompt":
        return {"prompt": str(form.get("prompt") or "")}
    if kind == "audio":
        if not audio_id:
            raise BuilderError("выберите файл звукозаписи")
        return {"audio": audio_id, "title": str(form.get("title") or "запись")}
    if kind == "say":
        say = str(form.get("say") or "")
        if say not in SAY_KINDS:
            raise BuilderError("выберите, что произнести: сумму, дату, время…")
        source = str(form.get("source") or "contact")
        if source == "value":
            return {"say": say, "value": _typed_value(say, str(form.get("value") or ""))}
        var = str(form.get("var") or "").strip()
        if not var:
            raise BuilderError("укажите столбец списка (переменную контакта)")
        return {"say": say, "var": var}
    if kind == "question":
        question = audio_id or str(form.get("prompt") or "")
        if form.get("scale") == "nps":
            # an estimate 0–10 (NPS, REQ-A13): one key, or 1 then 0 for ten
            return {
                "question": question,
                "keys": "0123456789",
                "name": str(form.get("name") or ""),
                "scale": "nps",
            }
        return {
            "question": question,
            "keys": "".join(ch for ch in str(form.get("keys") or "") if not ch.isspace()),
            "name": str(form.get("name") or ""),
        }
    raise BuilderError("неизвестный вид шага")


def describe(step: Mapping[str, str], prompt_text: Any) -> str:
    """One step as the builder's list shows it, in Russian."""

    def phrase(pid: str) -> str:
        if pid.startswith("upload/"):
            return "загруженная запись"
        try:
            return f"«{prompt_text(pid)}»"
        except KeyError:
            return f"[нет фразы {pid}]"

    if "prompt" in step:
        return f"Фраза: {phrase(step['prompt'])}"
    if "audio" in step:
        return f"Запись: {step.get('title') or 'без названия'}"
    if "question" in step:
        answer = (
            "оценка от 0 до 10 (десять — 1, затем 0)"
            if step.get("scale") == "nps"
            else f"клавиши {step['keys']}"
        )
        return f"Вопрос «{step['name']}»: {phrase(step['question'])}; ответ — {answer}"
    if "until" in step:  # a period (the planned-outage template)
        return f"Произнести период: с «{step['var']}» до «{step['until']}»"
    what = SAY_KIND_TITLES.get(step["say"], step["say"])
    if "value" in step:
        return f"Произнести {SAY_TITLES.get(step['say'], what)}: {step['value']}"
    return f"Произнести {SAY_TITLES.get(step['say'], what)} из столбца «{step['var']}»"


@dataclass(frozen=True)
class Uploaded:
    prompt_id: str
    seconds: float


class MessageBuilder:
    def __init__(self, campaigns: CampaignService, sounds_dir: Path) -> None:
        self.campaigns = campaigns
        self.db = campaigns.db
        self.sounds_dir = sounds_dir

    # -- steps ---------------------------------------------------------------------

    def _steps(self, campaign_id: int) -> list[dict[str, str]]:
        return [dict(s) for s in self.campaigns.get(campaign_id).scenario]

    def add(
        self, campaign_id: int, step: dict[str, str], *, by: str | None, at: int | None = None
    ) -> None:
        steps = self._steps(campaign_id)
        steps.insert(len(steps) if at is None else max(0, min(at, len(steps))), step)
        self.campaigns.update_scenario(campaign_id, steps, by=by)

    def remove(self, campaign_id: int, index: int, *, by: str | None) -> None:
        steps = self._steps(campaign_id)
        if not 0 <= index < len(steps):
            raise BuilderError("такого шага нет")
        if len(steps) == 1:
            raise BuilderError("в сообщении должен остаться хотя бы один шаг")
        del steps[index]
        self.campaigns.update_scenario(campaign_id, steps, by=by)

    def move(self, campaign_id: int, index: int, delta: int, *, by: str | None) -> None:
        steps = self._steps(campaign_id)
        target = index + delta
        if not (0 <= index < len(steps) and 0 <= target < len(steps)):
            raise BuilderError("шаг нельзя сдвинуть дальше")
        steps[index], steps[target] = steps[target], steps[index]
        self.campaigns.update_scenario(campaign_id, steps, by=by)

    def use_template(self, campaign_id: int, kind: str, *, by: str | None) -> None:
        try:
            steps = default_scenario(Kind(kind))
        except ValueError:
            raise BuilderError("неизвестный шаблон") from None
        self.campaigns.update_scenario(campaign_id, steps, by=by)

    # -- recordings ----------------------------------------------------------------

    def upload(
        self, campaign_id: int, data: bytes, filename: str, *, by: str | None = None
    ) -> Uploaded:
        """Convert an uploaded recording, keep it, write it for this node's Asterisk."""
        self.campaigns.get(campaign_id)  # an unknown campaign: its own message
        if not data:
            raise BuilderError("файл звукозаписи пуст")
        if len(data) > MAX_UPLOAD_BYTES:
            raise BuilderError(f"файл больше {MAX_UPLOAD_BYTES // (1024 * 1024)} МБ")
        suffix = Path(filename or "").suffix.lower().lstrip(".")
        sox_type = AUDIO_TYPES.get(suffix)
        if sox_type is None:
            raise BuilderError("поддерживаются записи WAV, MP3, OGG и FLAC")
        if not sox_reads(sox_type):
            raise BuilderError(
                f"записи {sox_type.upper()} на этом сервере не читаются (нужен пакет "
                "libsox-fmt-mp3): сохраните запись как WAV"
            )
        wav, seconds = convert(data, sox_type)
        prompt_id = f"upload/c{campaign_id}_{hashlib.sha256(wav).hexdigest()[:16]}"
        with self.db.session(write=True) as s:
            if s.get(CampaignRecording, prompt_id) is None:
                s.add(
                    CampaignRecording(
                        prompt_id=prompt_id,
                        campaign_id=campaign_id,
                        title=Path(filename).name[:255] or "запись",
                        seconds=seconds,
                        wav=wav,
                        created_by=by,
                    )
                )
        self._write(prompt_id, wav)
        log.info("campaign %s: a recording of %.1f s uploaded", campaign_id, seconds)
        return Uploaded(prompt_id, seconds)

    def path(self, prompt_id: str) -> Path:
        return self.sounds_dir / f"{prompt_id}.wav"

    def _write(self, prompt_id: str, wav: bytes) -> None:
        path = self.path(prompt_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(wav)
        tmp.chmod(0o644)  # Asterisk reads it
        tmp.replace(path)

    def materialise(self, prompt_id: str) -> bool:
        """The recording's file on this node (written from the database when
        missing); False when the database has no such recording."""
        if self.path(prompt_id).exists():
            return True
        with self.db.session(readonly=True) as s:
            rec = s.get(CampaignRecording, prompt_id)
            wav = rec.wav if rec is not None else None
        if wav is None:
            return False
        self._write(prompt_id, wav)
        return True


def convert(data: bytes, sox_type: str) -> tuple[bytes, float]:
    """``data`` (a WAV/MP3/OGG/FLAC file) as 8 kHz mono 16-bit WAV, and its
    length in seconds; :class:`BuilderError` when sox cannot read it."""
    with tempfile.TemporaryDirectory(prefix="hotline-upload-") as tmp:
        src = Path(tmp) / f"in.{sox_type}"
        dst = Path(tmp) / "out.wav"
        src.write_bytes(data)
        try:
            done = subprocess.run(
                [
                    "sox",
                    "-t",
                    sox_type,
                    str(src),
                    "-r",
                    "8000",
                    "-c",
                    "1",
                    "-b",
                    "16",
                    "-e",
                    "signed-integer",
                    str(dst),
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except FileNotFoundError:
            raise BuilderError("на сервере нет sox: установите пакет sox") from None
        except subprocess.TimeoutExpired:
            raise BuilderError("файл звукозаписи не удалось обработать за минуту") from None
        if done.returncode != 0 or not dst.exists():
            raise BuilderError(
                "файл не удалось прочитать как звукозапись (WAV, MP3, OGG или FLAC): "
                "он повреждён или это не звук"
            )
        wav = dst.read_bytes()
    frames = max(0, len(wav) - 44) // 2
    seconds = round(frames / 8000, 1)
    if seconds < 0.2:
        raise BuilderError("в записи нет звука")
    if seconds > MAX_SECONDS:
        raise BuilderError(f"запись длиннее {int(MAX_SECONDS // 60)} минут")
    return wav, seconds
