"""The wallboard pages (scaffold: filled by its part)."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def create_wallboard_app(services: Any, runtime: Any = None) -> web.Application:
    return web.Application()
