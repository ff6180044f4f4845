"""``hotline demo``: the whole contact centre on its embedded default.

Brings up the project's Asterisk (with the test-only simulated caller),
generates the Russian prompts, migrates the SQLite database and loads demo
data, starts FastAGI + AMI + web (+ the dialer and other components), places
a simulated call through the hotline menu, prints what the caller heard and
what the database holds, and the URL of the dispatcher page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.settings import Settings

if TYPE_CHECKING:
    from hotline.services import Services

log = logging.getLogger(__name__)


def _load_demo_data(services: Services) -> str:
    from crm_bridge import demo_data

    demo_data.load_demo(services.db)
    return "демо-данные загружены"


@dataclass(frozen=True)
class Scenario:
    """The demo call: where it goes, from which number, and what the caller
    does. The caller listens: each key is pressed once the prompt it answers
    has started (``CallRig.walk``), however slow the machine is."""

    context: str
    exten: str
    number: str
    walk: tuple[tuple[str, str], ...] = ()
    """(prompt, keys) answered in turn."""
    hang_up_at: str | None = None
    """Hang up once this prompt starts (None: the flow ends the call)."""
    answering_machine: bool = False
    """Out of hours: the caller answers the answering machine live."""


def _scenario(services: Services) -> Scenario:
    from datetime import UTC, datetime

    from hotline.slices import build_routes
    from ivr.flows.common import working_hours
    from telephony.contract import Context, Route

    table = build_routes()
    if Route.INBOUND in table:
        from crm_bridge.demo_data import DEMO_CALLER

        number = (DEMO_CALLER.phone or "+79001234567").lstrip("+")
        if not working_hours(services).is_open(datetime.now(UTC)):
            # Out of hours: the answering machine; the caller answers it live
            # (_answer_the_machine).
            return Scenario(str(Context.INBOUND), "s", number, answering_machine=True)
        # The caller listens to the recording warning and the greeting,
        # chooses «debt» (4) as the menu starts, keys in the account number
        # when asked, listens to the balance and hangs up at the options.
        return Scenario(
            str(Context.INBOUND),
            "s",
            number,
            walk=(("menu/main", "4"), ("ident/enter_account", f"{DEMO_CALLER.number}#")),
            hang_up_at="debt/options",
        )
    return Scenario(
        str(Context.SELFTEST), "s", "79001234567", walk=(("selftest/enter_digits", "42#"),)
    )


DEMO_VOICE = {
    "demo_name": "Петров Сергей Иванович",
    "demo_account": "Лицевой счёт один ноль ноль ноль ноль ноль ноль ноль ноль один",
    "demo_message": "Прошу перезвонить, хочу уточнить начисления за ноябрь.",
}
"""What the demo caller says to the answering machine."""


def _make_demo_voice(settings: Settings) -> None:
    """The demo caller's voice (offline TTS, 8 kHz) and the silence after it:
    a Local channel sends no audio while idle, and a recording ends on heard
    silence."""
    import wave

    from ivr.prompts import find_sox, find_synthesiser, synthesise

    out = settings.sounds_dir / "test"
    synth, sox = find_synthesiser(), find_sox()
    for name, text in DEMO_VOICE.items():
        if not (out / f"{name}.wav").exists():
            synthesise(synth, sox, text, out / f"{name}.wav")
    silence = out / "demo_silence.wav"
    if not silence.exists():
        with wave.open(str(silence), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(bytes(2 * 8000 * 4))


async def _answer_the_machine(rig: Any, call: Any, timeout: float = 60.0) -> None:
    """Out of hours: say the name and the account after their beeps, accept
    the calling number as the callback number (1), leave a message."""
    loop = asyncio.get_running_loop()

    async def until(test: Any) -> bool:
        end = loop.time() + timeout
        while not test():
            if call.ended.is_set() or loop.time() > end:
                return False
            await asyncio.sleep(0.1)
        return True

    def records() -> int:
        return sum(c.startswith("RECORD FILE") for c in call.agi_commands())

    if not await until(lambda: any("/am/" in c for c in call.agi_commands())):
        return  # not the answering machine after all (the schedule changed meanwhile)
    for count, name in enumerate(("demo_name", "demo_account"), start=1):
        if not await until(lambda n=count: records() >= n):
            return
        await rig.caller_does(call, f"p{name}-pdemo_silence-s")
    if not await until(lambda: any("/am/contact_options" in c for c in call.agi_commands())):
        return
    await rig.send_dtmf(call, "1")
    if await until(lambda: records() >= 3):
        await rig.caller_does(call, "pdemo_message-pdemo_silence-s")


async def run_demo(settings: Settings, keep_running: bool = False) -> int:
    from hotline.callrig import CallRig
    from hotline.runner import Runtime
    from hotline.sandbox import Sandbox
    from hotline.services import Services
    from hotline.slices import component_names
    from ivr.prompts import PromptCatalogue, generate

    print("1. Asterisk 22 (собственный экземпляр проекта)…", flush=True)
    sandbox = Sandbox(settings)
    await asyncio.to_thread(sandbox.up)
    print(f"   работает, журнал: {sandbox.full_log}")
    print("2. Голосовые подсказки (офлайн-синтез речи)…", flush=True)
    catalogue = PromptCatalogue.load()
    report = await asyncio.to_thread(generate, catalogue, settings.sounds_dir)
    print(f"   {report.summary()}")
    print("3. База данных и демо-данные…", flush=True)
    services = await asyncio.to_thread(Services.create, settings)
    print(f"   {settings.db_url}")
    print(f"   {await services.run_db(_load_demo_data, services)}")
    comps = component_names()
    try:
        async with Runtime(settings, comps, services=services) as rt:
            print(f"4. Сервисы запущены: {', '.join(comps)}")
            scenario = _scenario(services)
            if scenario.answering_machine:
                await asyncio.to_thread(_make_demo_voice, settings)
            print(
                f"5. Имитация звонка на горячую линию с номера +{scenario.number} "
                f"({scenario.context})…",
                flush=True,
            )
            rig = CallRig(settings, hub=services.hub)
            await rig.start()
            try:
                call = await rig.place(
                    scenario.context,
                    "s",
                    exten=scenario.exten,
                    caller_number=scenario.number,
                    timeout=20,
                )
                if scenario.answering_machine:
                    print(
                        "   нерабочее время: абонент оставляет сообщение автоответчику", flush=True
                    )
                    await _answer_the_machine(rig, call)
                await rig.walk(call, scenario.walk, timeout=60)
                if scenario.hang_up_at:
                    await rig.heard_start(call, scenario.hang_up_at, timeout=60)
                    await rig.hangup_caller(call)
                await rig.wait_end(call, timeout=180)
            finally:
                await rig.close()
            # The whole call as stored (every AGI route of the channel).
            from crm_bridge.calls import CallService

            events = await services.run_db(
                functools.partial(CallService(services.db).events, source="ivr"), call.call_id
            )
            print("   Абонент услышал:")
            end_detail: Any = "-"
            for e in events:
                if e.kind == "prompt":
                    item = str(e.detail["id"])
                    print(f"     · {catalogue.text(item) if item in catalogue else item}")
                elif e.kind == "say":
                    spoken = e.detail.get("text") or e.detail.get("value")
                    print(f"     · {spoken}  [{e.detail.get('what')} {e.detail.get('value')}]")
                elif e.kind == "input" or (
                    e.kind == "var"
                    and e.detail.get("name")
                    in ("HOTLINE_APPEAL", "HOTLINE_CLASS", "HOTLINE_ACCOUNT")
                ):
                    print(f"     [{e.kind}] {e.detail}")
                elif e.kind == "end":
                    end_detail = dict(e.detail)
            print(f"   Итог звонка: {end_detail}")
            base = rt.web_url.rstrip("/")
            print(f"6. Пульт диспетчера: {base}/dispatcher/")
            print(f"   Рабочее место оператора: {base}/operator/   Состояние: {base}/health")
            from crm_bridge.demo_data import DEMO_OPERATORS

            logins = ", ".join(f"{op.login} / {op.password}" for op in DEMO_OPERATORS)
            print(f"   Демо-входы (логин / пароль): {logins}")
            if keep_running:
                print("Система работает. Остановка — Ctrl-C.", flush=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await services.aclose()
        if not keep_running:
            await asyncio.to_thread(sandbox.down)
    return 0
