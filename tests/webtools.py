"""Helpers of the web tests: the root application with the one edge and the
chosen slices' sub-apps, and a log-in through the one log-in page."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient


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
