"""The services handed to every call flow and web handler (composition).

Built once per process from :class:`~core.settings.Settings`: the
database, the prompt resolver, the journal hub, and the CRM services. Flows
receive this object as ``deps``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.settings import Settings
from telephony.channel import PromptResolver
from telephony.journal import CallJournal, JournalHub

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    resolver: PromptResolver
    hub: JournalHub
    spool_ast: str
    db: Any = None
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="db")
    )
    """Database work somebody waits for: call flows (a caller hears the
    answer), web pages."""
    background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="db-bg")
    )
    """Bookkeeping nobody waits for (the AMI call listener, call journals):
    its own lane, so a burst of writes never queues a caller's lookup."""
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, *, migrate: bool = True) -> Services:
        from crm_bridge.db import Database

        settings.data.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_url)
        if migrate:
            db.upgrade()
        resolver = build_resolver(settings)
        return cls(
            settings=settings,
            resolver=resolver,
            hub=JournalHub(),
            spool_ast=settings.ast_path(settings.spool_dir),
            db=db,
        )

    @classmethod
    def for_process_agi(cls, settings: Settings) -> Services:
        """Inside a process-AGI script: no migrations (the service did them)."""
        return cls.create(settings, migrate=False)

    async def run_db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking database work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def run_db_background(self, fn: Callable[..., T], *args: Any) -> T:
        """Like :meth:`run_db`, in the bookkeeping lane (see ``background``)."""
        return await asyncio.get_running_loop().run_in_executor(self.background, fn, *args)

    async def save_journal(self, journal: CallJournal) -> None:
        if self.db is None:
            return
        from crm_bridge.calls import CallService

        await self.run_db_background(
            CallService(self.db).append_events, journal.call_id, list(journal.entries)
        )

    async def aclose(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.background.shutdown(wait=True, cancel_futures=False)
        if self.db is not None:
            self.db.engine.dispose()


def build_resolver(settings: Settings) -> PromptResolver:
    from ivr.prompts import SoundResolver

    return SoundResolver(
        settings.sounds_dir,
        asterisk_ru_dir=settings.root / "usr/share/asterisk/sounds/ru",
        prefer_own_voice=not settings.prefer_asterisk_digits,
        chroot=settings.root,
    )
