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
from typing import Any

from hotline.settings import Settings

log = logging.getLogger(__name__)


def _load_demo_data(services: Any) -> str:
    try:
        from crm_bridge import demo_data
    except ImportError:
        return "демо-данные недоступны (crm_bridge.demo_data отсутствует)"
    loader = getattr(demo_data, "load_demo", None) or getattr(demo_data, "load_demo_set", None)
    if loader is None:
        return "демо-данные: нет функции загрузки"
    result = loader(services.db)
    return f"демо-данные загружены: {result}" if result is not None else "демо-данные загружены"


def _scenario() -> tuple[str, str, str, str]:
    """(context, exten, caller script, caller number) of the demo call."""
    from ivr.contract import Context, Route
    from ivr.routes import build_routes

    table = build_routes()
    if Route.INBOUND in table:
        from crm_bridge.demo_data import DEMO_CALLER

        # The caller listens to the recording warning and the greeting
        # (about 9 s), chooses «debt» (4) as the menu starts, keys in the
        # account number and listens to the balance.
        script = f"w11000-d4-w10000-d{DEMO_CALLER.number}#-w15000-h"
        return str(Context.INBOUND), "s", script, (DEMO_CALLER.phone or "+79001234567").lstrip("+")
    return str(Context.SELFTEST), "s", "w5500-d42#-w9000-h", "79001234567"


async def run_demo(settings: Settings, keep_running: bool = False) -> int:
    from hotline.callrig import CallRig
    from hotline.runner import ALL_COMPONENTS, COMPONENT_FACTORIES, Runtime
    from hotline.sandbox import Sandbox
    from hotline.services import Services
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
    import hotline.wiring  # noqa: F401 - capabilities register their parts

    comps = (*ALL_COMPONENTS, *COMPONENT_FACTORIES)
    try:
        async with Runtime(settings, comps, services=services) as rt:
            print(f"4. Сервисы запущены: {', '.join(comps)}")
            context, exten, script, number = _scenario()
            print(
                f"5. Имитация звонка на горячую линию с номера +{number} ({context})…", flush=True
            )
            rig = CallRig(settings, hub=services.hub)
            await rig.start()
            try:
                call = await rig.place(
                    context, script, exten=exten, caller_number=number, timeout=20
                )
                await rig.wait_end(call, timeout=120)
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
