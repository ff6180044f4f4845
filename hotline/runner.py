"""``hotline run``: FastAGI + AMI + web (+ dialer) in one event loop.

:class:`Runtime` owns every long-lived part; ``async with Runtime(...)``
starts them and stops them in reverse order. Deployments that split the
parts across machines start a subset (``components``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from core.priority import raise_cpu_priority
from core.settings import Settings
from hotline.services import Services
from hotline.slices import CORE_COMPONENTS, SLICES, build_routes, component_factories
from hotline.web import create_app
from telephony.ami import AmiClient
from telephony.fastagi import FastAgiServer

log = logging.getLogger(__name__)

ALL_COMPONENTS = CORE_COMPONENTS


class Runtime:
    def __init__(
        self,
        settings: Settings,
        components: Iterable[str] = ALL_COMPONENTS,
        services: Services | None = None,
    ) -> None:
        self.settings = settings
        self.components = tuple(components)
        self.services = services
        self.fastagi: FastAgiServer | None = None
        self.ami: AmiClient | None = None
        self.web_runner: web.AppRunner | None = None
        self.web_url = ""
        self.extra: dict[str, Any] = {}
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Runtime:
        try:
            await self.start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def start(self) -> None:
        s = self.settings
        raise_cpu_priority(s.cpu_nice)
        if self.services is None:
            self.services = Services.create(s)
            self._stack.push_async_callback(self.services.aclose)
        services = self.services
        if "ami" in self.components:
            self.ami = AmiClient(s.ami_host, s.ami_port, s.ami_user, s.secret())
            services.ami = self.ami
            for sl in SLICES:  # each slice's AMI subscriptions, before AMI starts
                for hook in sl.ami:
                    hook(self)
        if "fastagi" in self.components:
            self.fastagi = FastAgiServer(
                build_routes(),
                services,
                host=s.fastagi_host,
                port=s.fastagi_port,
                resolver=services.resolver,
                spool_dir=services.spool_ast,
                hub=services.hub,
                on_call_end=services.save_journal,
                allow=s.fastagi_allow,
                max_connections=s.fastagi_max_connections,
            )
            await self.fastagi.start()
            self._stack.push_async_callback(self.fastagi.stop)
        if self.ami is not None:
            await self.ami.start(wait=None)
            self._stack.push_async_callback(self.ami.close)
            with contextlib.suppress(Exception):
                await self.ami.wait_connected(15)
        for name, factory in component_factories().items():
            if name in self.components:
                comp = factory(self)
                await comp.start()
                self.extra[name] = comp
                self._stack.push_async_callback(comp.stop)
        if "web" in self.components:
            app = create_app(services, self)
            self.web_runner = web.AppRunner(app, access_log=None)
            await self.web_runner.setup()
            site = web.TCPSite(self.web_runner, s.web_host, s.web_port)
            await site.start()
            server = site._server
            socks = getattr(server, "sockets", None) or []
            port = socks[0].getsockname()[1] if socks else s.web_port
            self.web_url = f"http://{s.web_host}:{port}/"
            self._stack.push_async_callback(self.web_runner.cleanup)
            log.info("web on %s", self.web_url)
        tune_gc()


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running call server.

    Objects alive after start-up (modules, models, settings) are frozen out
    of the collector's view, and the young generation is collected less
    often: with hundreds of calls in flight, default thresholds made full
    collections stall the event loop for tens of milliseconds (measured by
    bench/fastagi.py: AGI round-trip p99).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def run_forever(settings: Settings, components: Iterable[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Runtime(settings, components) as rt:
        print(f"hotline running: {', '.join(rt.components)}; web {rt.web_url or '-'}", flush=True)
        await stop.wait()
    print("hotline stopped", flush=True)
