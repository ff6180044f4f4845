"""Handing accepted meter readings over to billing (REQ-T14), without HTTP
serving of our own: the ``/readings/`` page and API (:mod:`crm_bridge.readings_web`)
call it, and so can a job.

Readings not yet exported are claimed in batches and POSTed as JSON
``{"batch", "count", "readings": [...]}`` to ``settings.readings_billing_url``,
signed like the CRM webhook (``X-Hotline-Signature: sha256=<HMAC of the
body>``, key :func:`crm_bridge.webhook.webhook_secret`) with
``Idempotency-Key: <batch>``. A batch is marked exported only after a 2xx
answer; on any failure (far side down, timeout, non-2xx) it is released and
stays pending — nothing is lost; a crash between delivery and marking re-sends
the same readings later (billing de-duplicates by ``reading_id``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from crm_bridge.readings import ReadingService
from crm_bridge.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BATCH",
    "MAX_BATCH",
    "BillingPush",
    "BillingUrlError",
    "PushResult",
]

PUSH_TIMEOUT: Final = 30.0
"""Seconds for billing to answer one batch."""
DEFAULT_BATCH: Final = 500
MAX_BATCH: Final = 5000
MAX_BATCHES_PER_PUSH: Final = 20


class BillingUrlError(ValueError):
    """The configured billing address cannot be used (message in Russian)."""


@dataclass
class PushResult:
    sent: int = 0
    batches: list[str] = field(default_factory=list)
    error: str | None = None
    """Why the push stopped early (Russian, for the page and the JSON answer)."""
    pending: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sent": self.sent,
            "batches": self.batches,
            "pending": self.pending,
            "error": self.error,
        }


class BillingPush:
    """Claims batches of accepted readings and POSTs them to billing, exactly-once
    from our side (see the module docstring)."""

    def __init__(
        self,
        service: ReadingService,
        url: str,
        *,
        secret: str,
        run_db: Callable[..., Awaitable[Any]],
        timeout: float = PUSH_TIMEOUT,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise BillingUrlError(
                f"адрес биллинга должен начинаться с http:// или https://: «{url}»"
            )
        self.service = service
        self.url = url
        self.secret = secret
        self.run_db = run_db
        self.timeout = timeout
        self.batch_size = batch_size

    async def push(self, *, max_batches: int = MAX_BATCHES_PER_PUSH) -> PushResult:
        result = PushResult()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(max_batches):
                batch, rows = await self.run_db(
                    lambda: self.service.claim_for_export(limit=self.batch_size)
                )
                if not rows:
                    break
                body = json.dumps(
                    {"batch": batch, "count": len(rows), "readings": [r.as_json() for r in rows]},
                    ensure_ascii=False,
                ).encode("utf-8")
                try:
                    error = await self._post(session, batch, body)
                except BaseException:
                    # cancelled mid-request: the batch becomes pending again
                    await asyncio.shield(self.run_db(self.service.release, batch))
                    raise
                if error is not None:
                    await self.run_db(self.service.release, batch)
                    logger.warning("billing push of batch %s failed: %s", batch, error)
                    result.error = error
                    break
                await self.run_db(self.service.mark_exported, batch)
                result.sent += len(rows)
                result.batches.append(batch)
                logger.info("billing push: batch %s, %d readings delivered", batch, len(rows))
        result.pending = await self.run_db(self.service.pending_export)
        return result

    async def _post(self, session: aiohttp.ClientSession, batch: str, body: bytes) -> str | None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self.secret, body),
            IDEMPOTENCY_HEADER: batch,
        }
        try:
            async with session.post(self.url, data=body, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return None
                return f"биллинг ответил HTTP {resp.status}; показания остались к отправке"
        except TimeoutError:
            return (
                f"биллинг не ответил за {self.timeout:g} с; показания остались к отправке "
                "(если он их всё же принял, повтор придёт с теми же reading_id)"
            )
        except aiohttp.ClientError as exc:
            return f"биллинг недоступен ({type(exc).__name__}); показания остались к отправке"
