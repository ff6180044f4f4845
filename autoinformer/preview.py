"""The campaign's message as the callee will hear it, for the dispatcher's
preview before approval (REQ-O10): the same prompt files Asterisk plays, in
the same order, filled with the first contact's data, joined into one WAV.
Service logic, no HTTP (the console serves it as ``preview.wav``)."""

from __future__ import annotations

import io
import wave
from typing import Any

from autoinformer.campaigns import (
    MESSAGE_HINTS,
    CampaignError,
    CampaignService,
    message_variables,
    step_cases,
    step_phrase,
)


def message_wav(
    campaigns: CampaignService, resolver: Any, campaign_id: int, contact_id: int | None = None
) -> bytes:
    """The message of one contact (``contact_id``, else the first) as one
    WAV: the same files Asterisk plays, in the same order, with the closing
    hints (blocking)."""
    service = campaigns
    c = service.get(campaign_id)
    contact = service.contact(campaign_id, contact_id)
    variables = message_variables(c, contact.variables if contact else {})
    tz = contact.timezone if contact else None
    names: list[str] = []
    for step, case in zip(c.scenario, step_cases(c.scenario), strict=True):
        if "prompt" in step:
            names.append(resolver.prompt(step["prompt"]))
        elif "audio" in step:
            names.append(resolver.prompt(step["audio"]))
        elif "question" in step:
            names.append(resolver.prompt(step["question"]))
        else:
            try:
                phrase = step_phrase(step, variables, tz, case or "nom")
            except (ValueError, TypeError):
                continue
            for part in phrase.parts:
                if isinstance(part, str):
                    names.append(resolver.prompt(part))
                else:
                    names.extend(resolver.tokens(part.tokens))
    names.extend(resolver.prompt(p) for p in MESSAGE_HINTS)
    out = io.BytesIO()
    params: Any = None
    with wave.open(out, "wb") as w:
        for name in names:
            path = resolver.host_file(name)
            if path is None or path.suffix != ".wav":
                continue
            with wave.open(str(path), "rb") as r:
                if params is None:
                    params = r.getparams()
                    w.setparams(params)
                elif (r.getnchannels(), r.getsampwidth(), r.getframerate()) != (
                    params.nchannels,
                    params.sampwidth,
                    params.framerate,
                ):
                    continue
                w.writeframes(r.readframes(r.getnframes()))
        if params is None:
            raise CampaignError("звукозаписи сообщения не найдены (hotline prompts generate)")
    return out.getvalue()
