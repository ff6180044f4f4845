"""The IVR slice: the hotline's call flows, and speech recognition for them."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from core.slice import Slice
from telephony.callrunner import Flow
from telephony.contract import Route


def routes() -> Mapping[str, Flow]:
    from ivr.flows import answering_machine, hotline, meter_readings, queue_callback, selftest

    return {
        Route.SELFTEST: selftest.selftest,
        Route.SELFTEST_FAIL: selftest.selftest_fail,
        Route.BENCH_MENU: selftest.bench_menu,
        Route.METER_READINGS: meter_readings.flow,
        Route.INBOUND: hotline.flow,
        Route.ANSWERING_MACHINE: answering_machine.flow,
        Route.QUEUE_CALLBACK: queue_callback.flow,
    }


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ivr.speech_models import add_models_parser

    pr = sub.add_parser(
        "prompts",
        help="голосовые подсказки: озвучить каталог (офлайн-синтез речи)",
        description="Озвучить каталог подсказок голосом RHVoice (или espeak-ng) в 8 кГц; "
        "неизменившиеся подсказки не озвучиваются заново.",
    )
    pr.add_argument("action", choices=["generate"], help="generate — озвучить каталог")
    pr.add_argument("--force", action="store_true", help="озвучить заново все подсказки")
    pr.set_defaults(fn=_cmd_prompts)
    add_models_parser(sub).set_defaults(fn=_cmd_models)


def _cmd_prompts(args: argparse.Namespace) -> int:
    from core.settings import from_cli_args
    from ivr.prompts import main_generate

    settings = from_cli_args(args)
    return main_generate(settings.sounds_dir, force=args.force, settings=settings)


def _cmd_models(args: argparse.Namespace) -> int:
    from core.settings import from_cli_args
    from ivr.speech_models import main_models

    return main_models(from_cli_args(args), args)


def _speech(runtime: Any) -> Any:
    from ivr.speech_lang import create_speech_component

    return create_speech_component(runtime)


SLICE = Slice(
    name="ivr",
    routes=routes,
    # Meter readings (REQ-T14): the Vosk engine and the AudioSocket server,
    # shared by every call (keypad-only without a model).
    components={"speech": _speech},
    cli=cli,
)
