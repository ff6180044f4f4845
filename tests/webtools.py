"""Helpers of the web tests: the root application with the one edge and the
chosen slices' sub-apps, and a log-in through the one log-in page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient

from autoinformer.campaigns import CampaignService
from autoinformer.monitor import Monitor
from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.live import EventBus
from crm_bridge.services import CrmServices

T = TypeVar("T")


@dataclass
class FakeServices:
    """The shape of ``hotline.services.Services`` the web sub-apps use, over
    a real database and real services, without Asterisk (no AMI, no
    listener, no dialer unless a test sets one)."""

    settings: Settings
    db: Database
    crm: CrmServices
    campaigns: CampaignService
    resolver: Any = None
    event_bus: EventBus = field(default_factory=EventBus)
    campaign_monitor: Monitor = field(default_factory=Monitor)
    ami: Any = None
    call_listener: Any = None
    dialer: Any = None
    email_sender: Any = None
    speech: Any = None
    shift: Any = None
    wallboard: Any = None
    cluster: Any = None
    hours: Any = None

    @classmethod
    def create(cls, settings: Settings, db: Database, **kw: Any) -> FakeServices:
        from ivr.schedule import WorkingHours

        crm = CrmServices.from_settings(db, settings)
        kw.setdefault(
            "hours",
            WorkingHours.from_config(
                settings.working_hours, tz=settings.timezone, calendar=crm.calendar
            ),
        )
        return cls(settings, db, crm, CampaignService(db, calendar=crm.calendar), **kw)

    async def run_db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def run_db_background(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)


def root_app(services: Any, *mounts: str, runtime: Any = None) -> web.Application:
    """The edge, the shell and the sub-apps at ``mounts`` (all when none given)."""
    from hotline.slices import web_apps
    from webedge.app import create_root

    chosen = [a for a in web_apps() if not mounts or a.mount in mounts]
    return create_root(services, [(a, a.factory(services, runtime)) for a in chosen])


async def log_in(client: TestClient[Any, Any], login: str, password: str) -> str:
    """Log in at ``/login``; returns the session's CSRF token (from the shell's meta tag)."""
    resp = await client.post(
        "/login", data={"login": login, "password": password}, allow_redirects=False
    )
    assert resp.status == 302, await resp.text()
    page = await client.get("/")
    text = await page.text()
    assert page.status == 200, text
    return text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
