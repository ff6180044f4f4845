"""The daily digest of appeals falling due (scaffold)."""

from __future__ import annotations

from typing import Any


class DigestComponent:
    def __init__(self, services: Any) -> None:
        self.services = services

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
