"""The services handed to every call flow, web handler, listener and job
(composition).

Built once per process from :class:`~core.settings.Settings`: the database,
the prompt resolver, the journal hub, the CRM's services with the company's
calendar and deadline rules, the working hours, the campaign service (the
same calendar); and, typed, the parts the runtime starts (AMI, the call
listener, speech, the dialer, e-mail). Each slice states what it needs as a
Protocol (``ivr.deps.IvrDeps``, ``crm_bridge.services.CrmDeps``,
``autoinformer.deps.AutoinformerDeps``, ``surveys.deps.SurveyDeps``…); mypy checks below that this class
gives each of them all of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from autoinformer.campaigns import CampaignService
from autoinformer.monitor import Monitor
from core.settings import Settings
from core.spool import Spool
from crm_bridge.db import Database, DbLimits
from crm_bridge.durable import DatabaseUnavailable, DurableWrites
from crm_bridge.live import EventBus, RemoteCalls
from crm_bridge.services import CrmServices
from ivr.schedule import WorkingHours
from telephony.ami import AmiClient
from telephony.callrunner import IN_CALL
from telephony.channel import PromptResolver
from telephony.journal import CallJournal, JournalHub

if TYPE_CHECKING:
    from autoinformer.deps import AutoinformerDeps
    from autoinformer.dialer import Dialer
    from autoinformer.email import EmailSender
    from crm_bridge.ami_listener import CallListener
    from crm_bridge.services import CrmDeps
    from ivr.deps import IvrDeps
    from ivr.speech_lang import SpeechComponent
    from shift.deps import ShiftDeps
    from shift.presence import ShiftService
    from sms.deps import SmsDeps
    from supervision.deps import SupervisionDeps
    from supervision.wallboard import Wallboard
    from surveys.deps import SurveyDeps

log = logging.getLogger(__name__)
T = TypeVar("T")

SUSPECT_WAIT_SECONDS = 0.3
"""A call's database wait while the last one ran out (:meth:`Services.run_db`)."""


@dataclass
class Services:
    settings: Settings
    resolver: PromptResolver
    hub: JournalHub
    spool_ast: str
    db: Database
    crm: CrmServices
    hours: WorkingHours
    """The hotline's working hours (REQ-T2) on the company's calendar."""
    campaigns: CampaignService
    durable: DurableWrites
    """The call path's writes: to the database, else to the node's spool (issue 13)."""
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
    event_bus: EventBus = field(default_factory=EventBus)
    """The operator card's live events (call listener → browsers)."""
    campaign_monitor: Monitor = field(default_factory=Monitor)
    """The dispatcher console's live events (dialer → browsers)."""
    db_suspect: bool = False
    """A call's database wait ran out and none has answered in time since."""
    # the parts the runtime starts, when it starts them
    ami: AmiClient | None = None
    call_listener: CallListener | None = None
    speech: SpeechComponent | None = None
    dialer: Dialer | None = None
    email_sender: EmailSender | None = None
    shift: ShiftService | None = None
    """Operators' presence in the queue (built with the ami component)."""
    wallboard: Wallboard | None = None
    """The supervisor's live wallboard fed by this node's AMI (built with the ami component)."""
    cluster: RemoteCalls | None = None
    """Actions on calls other nodes carry (the nodes slice's bridge, on PostgreSQL)."""

    @classmethod
    def create(cls, settings: Settings, *, migrate: bool = True) -> Services:
        from crm_bridge.db import Database

        settings.data.mkdir(parents=True, exist_ok=True)
        db = Database(
            settings.db_url,
            limits=DbLimits(
                connect_seconds=settings.db_connect_timeout_seconds,
                checkout_seconds=settings.db_pool_timeout_seconds,
                statement_ms=settings.db_statement_timeout_ms,
            ),
        )
        if migrate:
            from hotline.slices import upgrade

            upgrade(db)
        resolver = build_resolver(settings)
        crm = CrmServices.from_settings(db, settings)
        spool = Spool(
            settings.write_spool,
            settings.node_name,
            max_bytes=settings.write_spool_max_mb * 1024 * 1024,
            reserve_bytes=settings.write_spool_reserve_mb * 1024 * 1024,
        )
        durable_box: list[Services] = []

        async def run_background(fn: Callable[..., Any], *args: Any) -> Any:
            return await durable_box[0].run_db_background(fn, *args)

        durable = DurableWrites(
            crm.calls,
            crm.appeals,
            spool if migrate else None,
            run_background,
            limit=settings.call_db_wait_seconds,
        )
        services = cls(
            settings=settings,
            resolver=resolver,
            hub=JournalHub(),
            spool_ast=settings.ast_path(settings.spool_dir),
            db=db,
            crm=crm,
            hours=WorkingHours.from_config(
                settings.working_hours, tz=settings.timezone, calendar=crm.calendar
            ),
            campaigns=CampaignService(db, calendar=crm.calendar),
            durable=durable,
        )
        durable_box.append(services)
        from autoinformer.store import AttemptStore

        # The dialer's results (issue 13): replayed by any process of the
        # node, also one that does not dial.
        durable.register_op(
            "attempt.finalise",
            AttemptStore(db, settings.node_name, campaigns=services.campaigns).apply_finalise,
        )
        return services

    @classmethod
    def for_process_agi(cls, settings: Settings) -> Services:
        """Inside a process-AGI script: no migrations (the service did them)."""
        return cls.create(settings, migrate=False)

    async def run_db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking database work off the event loop. Inside a call
        flow (``IN_CALL``) the wait is bounded by ``call_db_wait_seconds``:
        past it :class:`~crm_bridge.durable.DatabaseUnavailable` is raised and
        the flow fails over to the apology and the queue instead of silence
        (a frozen database never answers; its thread is left to finish)."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        if not IN_CALL.get():
            return await future
        limit = self.settings.call_db_wait_seconds
        spool = self.durable.spool
        if self.db_suspect or (spool is not None and spool.has_backlog()):
            # The last wait ran out, or the call's writes are being spooled:
            # until one answers in time, a caller is not made to wait the
            # whole limit again (two waits in a row would be twice the silence).
            limit = min(limit, SUSPECT_WAIT_SECONDS)
        try:
            result = await asyncio.wait_for(future, limit)
        except TimeoutError as exc:
            self.db_suspect = True
            raise DatabaseUnavailable(f"the database did not answer in {limit:g} s") from exc
        self.db_suspect = False
        return result

    async def run_db_background(self, fn: Callable[..., T], *args: Any) -> T:
        """Like :meth:`run_db`, in the bookkeeping lane (see ``background``)."""
        return await asyncio.get_running_loop().run_in_executor(self.background, fn, *args)

    async def save_journal(self, journal: CallJournal) -> None:
        # The journal is saved before the AGI session ends (the caller
        # waits): a call whose database wait just ran out spools it at once.
        await self.durable.append_events(
            journal.call_id, list(journal.entries), spool_now=self.db_suspect
        )

    async def aclose(self) -> None:
        if self.durable.spool is not None:
            self.durable.spool.close()
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.background.shutdown(wait=True, cancel_futures=False)
        self.db.engine.dispose()


if TYPE_CHECKING:

    def _gives_every_slice_what_it_needs(
        s: Services,
    ) -> tuple[IvrDeps, CrmDeps, AutoinformerDeps, ShiftDeps, SupervisionDeps, SurveyDeps, SmsDeps]:
        return s, s, s, s, s, s, s


def build_resolver(settings: Settings) -> PromptResolver:
    from ivr.prompts import SoundResolver

    return SoundResolver(
        settings.sounds_dir,
        asterisk_ru_dir=settings.root / "usr/share/asterisk/sounds/ru",
        prefer_own_voice=not settings.prefer_asterisk_digits,
        chroot=settings.root,
    )
