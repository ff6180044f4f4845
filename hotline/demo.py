"""``hotline demo``: the whole contact centre on its embedded default.

Brings up the project's Asterisk (with the test-only simulated caller),
generates the Russian prompts, migrates the SQLite database and loads demo
data, starts FastAGI + AMI + web (+ the dialer and other components), places
a simulated call through the hotline menu, prints what the caller heard and
what the database holds, sends the demo customer's meter reading by SMS
through a real Kannel with its fake SMSC (when Kannel is installed; the
gateway keeps running with the demo), and the URL of the dispatcher page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.settings import Settings

if TYPE_CHECKING:
    from hotline.services import Services
    from shift.phones import PhoneCredentials

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
    to_operator: bool = False
    """The walk ends in the operator queue: hang up once an operator answered."""
    test_now: str | None = None
    """Test mode's "now" of the call (the operator call out of hours)."""
    note: str = ""
    answering_machine: bool = False
    """Out of hours: the caller answers the answering machine live."""


def _issue_demo_phones(services: Services) -> list[PhoneCredentials]:
    """A SIP phone for each demo operator (new passwords at every start)."""
    from crm_bridge.demo_data import DEMO_OPERATORS
    from crm_bridge.models import OperatorRole
    from shift.phones import issue_phone

    return [
        issue_phone(services.db, op.login, op.endpoint)
        for op in DEMO_OPERATORS
        if op.role is OperatorRole.OPERATOR and op.endpoint
    ]


async def _phones_in_the_queue(
    services: Services, settings: Settings, credentials: list[PhoneCredentials]
) -> list[Any]:
    """Each demo operator's phone (baresip, answering by itself) registered,
    and the operator logged in to the queue."""
    from sqlalchemy import select

    from crm_bridge.models import Operator
    from hotline.softphone import Softphone, SoftphoneError

    phones = []
    for creds in credentials:
        phone = Softphone(
            creds.endpoint,
            creds.password,
            host=settings.sip_host,
            port=settings.sip_port,
            workdir=settings.data / "demo-phones" / creds.endpoint,
        )
        try:
            await phone.start()
        except SoftphoneError as exc:
            print(f"   телефон {creds.endpoint} не зарегистрировался: {exc}")
            await phone.stop()
            continue
        phones.append(phone)

        def operator_id(login: str = creds.login) -> int:
            with services.db.session() as s:
                return int(s.scalars(select(Operator.id).where(Operator.login == login)).one())

        if services.shift is not None:
            await services.shift.log_in(await services.run_db(operator_id))
    print(f"   операторы в очереди: {', '.join(p.endpoint for p in phones) or 'нет'}")
    return phones


async def _until_an_operator_answers(services: Services, uniqueid: str) -> None:
    listener = services.call_listener
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        state = listener.state(uniqueid) if listener is not None else None
        if state is not None and state.operator_id is not None:
            print(f"   звонок принят оператором (телефон {state.operator_member})", flush=True)
            return
        await asyncio.sleep(0.2)
    print("   оператор не ответил за минуту", flush=True)


def _scenarios(services: Services) -> list[Scenario]:
    """In working hours the call to an operator; out of hours the answering
    machine, then the same call to an operator as it goes in working hours
    (the demo runs in test mode, where a call may carry its own "now")."""
    from datetime import UTC, datetime, timedelta

    from hotline.slices import build_routes
    from ivr.flows.common import working_hours
    from telephony.contract import Context, Route

    table = build_routes()
    if Route.INBOUND not in table:
        return [
            Scenario(
                str(Context.SELFTEST), "s", "79001234567", walk=(("selftest/enter_digits", "42#"),)
            )
        ]
    from crm_bridge.demo_data import DEMO_CALLER

    number = (DEMO_CALLER.phone or "+79001234567").lstrip("+")
    # The caller listens to the recording warning and the greeting,
    # chooses «debt» (4) as the menu starts, proves the account of the
    # calling number with its last four digits when asked (REQ-T9),
    # listens to the balance and asks for an operator (0):
    # a demo operator's phone rings and answers.
    to_operator = Scenario(
        str(Context.INBOUND),
        "s",
        number,
        walk=(
            ("menu/main", "4"),
            ("ident/enter_last_digits", f"{DEMO_CALLER.number[-4:]}#"),
            ("debt/options", "0"),
        ),
        to_operator=True,
    )
    hours = working_hours(services)
    now = datetime.now(UTC)
    if hours.is_open(now):
        return [to_operator]
    # Out of hours: the answering machine; the caller answers it live
    # (_answer_the_machine). Then the operator call at the next opening.
    opening = now
    while not hours.is_open(opening):
        opening += timedelta(minutes=30)
    in_hours = replace(
        to_operator,
        test_now=opening.isoformat(),
        note=", как в рабочее время",
    )
    return [Scenario(str(Context.INBOUND), "s", number, answering_machine=True), in_hours]


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


async def _demo_call(
    settings: Settings,
    services: Services,
    catalogue: Any,
    scenario: Scenario,
    step: int,
) -> None:
    """Place the demo call, let the caller act it out, print what was heard."""
    from crm_bridge.calls import CallService
    from hotline.callrig import CallRig
    from telephony.contract import Var

    if scenario.answering_machine:
        await asyncio.to_thread(_make_demo_voice, settings)
    print(
        f"{step}. Имитация звонка на горячую линию с номера +{scenario.number} "
        f"({scenario.context}){scenario.note}…",
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
            variables={Var.TEST_NOW.value: scenario.test_now} if scenario.test_now else None,
        )
        if scenario.answering_machine:
            print("   нерабочее время: абонент оставляет сообщение автоответчику", flush=True)
            await _answer_the_machine(rig, call)
        await rig.walk(call, scenario.walk, timeout=60)
        if scenario.to_operator:
            await _until_an_operator_answers(services, call.call_id)
            await rig.hangup_caller(call)
        if scenario.hang_up_at:
            await rig.heard_start(call, scenario.hang_up_at, timeout=60)
            await rig.hangup_caller(call)
        await rig.wait_end(call, timeout=180)
    finally:
        await rig.close()
    # The whole call as stored (every AGI route of the channel).
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
            and e.detail.get("name") in ("HOTLINE_APPEAL", "HOTLINE_CLASS", "HOTLINE_ACCOUNT")
        ):
            print(f"     [{e.kind}] {e.detail}")
        elif e.kind == "end":
            end_detail = dict(e.detail)
    print(f"   Итог звонка: {end_detail}")


async def _demo_sms(
    services: Services,
    settings: Settings,
    web_url: str,
    ports: Any,
    later: AsyncExitStack,
    step: int,
) -> int:
    """Kannel with its fake SMSC, and the demo customer's reading by SMS
    (REQ-T14); the gateway keeps running with the demo. The next step's number."""
    from crm_bridge.demo_data import DEMO_CALLER
    from sms import demo as sms_demo

    print(f"{step}. СМС: шлюз Kannel с имитатором SMSC…", flush=True)
    if isinstance(ports, str):
        print(f"   пропущено: {ports}")
        return step + 1
    phones = await later.enter_async_context(sms_demo.gateway(settings, ports, web_url))
    print(f"   sendsms {settings.sms_kannel_url}")
    assert DEMO_CALLER.phone is not None
    text, reply = await sms_demo.send_reading(services, phones, DEMO_CALLER.phone)
    print(f"   абонент {DEMO_CALLER.phone} → {reply.sender}: «{text}»")
    print(f"   ответ абоненту: «{reply.text}»")
    return step + 1


def _campaign_hint(settings: Settings) -> str:
    """Whom a demo campaign may call: the demo customers over the simulated
    network, two of whose lines fail (dialplans/test-network.conf)."""
    from core.settings import TEST_NETWORK_TRUNK
    from crm_bridge.demo_data import DEMO_BUSY, DEMO_CALLER, DEMO_NO_SUCH_NUMBER

    if settings.outbound_trunk != TEST_NETWORK_TRUNK:
        return f"Обзвон идёт через {settings.outbound_trunk} (HOTLINE_OUTBOUND_TRUNK)."
    return (
        f"Обзвон идёт через имитацию телефонной сети ({settings.outbound_trunk}): "
        f"в список годятся номера демо-абонентов, например {DEMO_CALLER.phone} "
        f"(слушает сообщение); {DEMO_BUSY.phone} занят, "
        f"{DEMO_NO_SUCH_NUMBER.phone} не существует."
    )


async def run_demo(settings: Settings, keep_running: bool = False) -> int:
    from hotline.runner import Runtime
    from hotline.sandbox import Sandbox
    from hotline.services import Services
    from hotline.slices import component_names
    from ivr.prompts import PromptCatalogue, configure_from, generate

    print("1. Asterisk 22 (собственный экземпляр проекта)…", flush=True)
    sandbox = Sandbox(settings)
    await asyncio.to_thread(sandbox.up)
    print(f"   работает, журнал: {sandbox.full_log}")
    print("2. Голосовые подсказки (офлайн-синтез речи)…", flush=True)
    synth = await asyncio.to_thread(configure_from, settings)
    print(f"   голос: {synth.describe()}")
    if synth.engine == "espeak" and settings.tts_engine != "espeak":
        print("   ВНИМАНИЕ: RHVoice недоступен, подсказки озвучены запасным голосом espeak-ng")
    catalogue = PromptCatalogue.load()
    report = await asyncio.to_thread(
        generate, catalogue, settings.sounds_dir, synth=synth, cache=settings.prompt_cache
    )
    print(f"   {report.summary()}")
    print("3. База данных и демо-данные…", flush=True)
    from sms import demo as sms_demo

    sms_ports = sms_demo.prepare(settings)  # before the services: the sender reads the URL
    services = await asyncio.to_thread(Services.create, settings)
    print(f"   {settings.db_url}")
    print(f"   {await services.run_db(_load_demo_data, services)}")
    credentials = await services.run_db(_issue_demo_phones, services)
    await asyncio.to_thread(sandbox.up)  # the operators' phones into pjsip.conf
    comps = component_names()
    phones: list[Any] = []
    try:
        async with Runtime(settings, comps, services=services) as rt, AsyncExitStack() as later:
            print(f"4. Сервисы запущены: {', '.join(comps)}")
            phones = await _phones_in_the_queue(services, settings, credentials)
            scenarios = _scenarios(services)
            for number, scenario in enumerate(scenarios, start=5):
                await _demo_call(settings, services, catalogue, scenario, number)
            step = 5 + len(scenarios)
            step = await _demo_sms(services, settings, rt.web_url, sms_ports, later, step)
            base = rt.web_url.rstrip("/")
            print(f"{step}. Пульт диспетчера: {base}/dispatcher/")
            print(f"   Рабочее место оператора: {base}/operator/   Состояние: {base}/health")
            from crm_bridge.demo_data import DEMO_OPERATORS

            logins = ", ".join(f"{op.login} / {op.password}" for op in DEMO_OPERATORS)
            print(f"   Демо-входы (логин / пароль): {logins}")
            print(f"   {_campaign_hint(settings)}")
            if credentials:
                shown = credentials[-1]
                print(
                    f"{step + 1}. Телефоны операторов имитирует baresip"
                    f" ({len(phones)} шт., в очереди)."
                    " Чтобы войти настоящим SIP-телефоном вместо имитации:"
                )
                for line in shown.lines(settings.sip_host, settings.sip_port):
                    print(f"   {line}")
            if keep_running:
                print("Система работает. Остановка — Ctrl-C.", flush=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                await stop.wait()
    finally:
        for phone in phones:
            with contextlib.suppress(Exception):
                await phone.stop()
        with contextlib.suppress(Exception):
            await services.aclose()
        if not keep_running:
            await asyncio.to_thread(sandbox.down)
    return 0
