"""Dialer benchmark: one campaign against the simulated telephone network.

    .venv/bin/python bench/dialer.py [--contacts 5000 --lines 60 --cps 10]

Starts a private Asterisk instance (test mode: the simulated network of
dialplans/test-network.conf), the runtime in this process (FastAGI for the
message, AMI, the dialer, the dispatcher console) and an independent AMI
observer. The contacts' numbers decide how the callee behaves, in a mix:

    listens to the end 25 %, hangs up after 3 s 20 %, after 1 s 15 %,
    no answer (rings until the 5 s timeout) 15 %, busy 15 %, congestion 10 %

Busy, no answer and congestion are retried once after 20 s. A WebSocket
client logged in to the dispatcher console watches the campaign like a
dispatcher's browser does.

Prints:
- line utilisation while work remains (mean calls in flight / line limit,
  sampled every 0.2 s while contacts are ready to be dialled; target ≥ 95 %);
- achieved calls per second against the cap (mean over the dialing period,
  and the most Originates seen in any 1-second window, which must not exceed
  the cap);
- duplicate dials (target 0): a ChannelId Asterisk created more than once,
  a channel of ours with no attempt row, two attempts of one contact at once;
- latency from the AMI event to the dashboard update on the WebSocket, p50/p99
  (target p99 < 1 s);
- results by category, the DB compared with what the observer saw.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import logging
import random
import shutil
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

from _common import bench_settings, pct

from hotline.runner import Runtime
from hotline.sandbox import Sandbox
from ivr.prompts import PromptCatalogue, generate
from telephony.ami import AmiClient

TRUNK = "Local/{number}@hotline-test-network"
MIX = (("01", 25), ("05", 20), ("12", 15), ("04", 15), ("03", 15), ("07", 10))
"""Behaviour code (last two digits, see dialplans/test-network.conf) → share, %."""


def daytime_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone where it is early afternoon now (inside every call window)."""
    now = now or datetime.now(UTC)
    for offset in range(-12, 15):
        if 12 <= (now.hour + offset) % 24 < 15:
            return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"
    raise AssertionError("unreachable")


def numbers(n: int) -> list[str]:
    codes = [code for code, share in MIX for _ in range(share)]
    random.Random(7).shuffle(codes)  # a list is not sorted by how people answer
    return [f"+7900{i:05d}{codes[i % len(codes)]}" for i in range(n)]


class Observer:
    """Independent AMI session: what Asterisk created for our ChannelIds."""

    def __init__(self, settings: Any) -> None:
        self.ami = AmiClient(
            settings.ami_host, settings.ami_port, settings.ami_test_user, settings.test_secret()
        )
        self.created: Counter[str] = Counter()
        self.ami.on_event("Newchannel", self._on)

    def _on(self, event: Any) -> None:
        uid = str(event.get("Uniqueid", ""))
        if uid.startswith("ai-") and not uid.endswith("-b"):
            self.created[uid] += 1


def setup_db(db: Any, phones: list[str], login: str) -> int:
    from autoinformer.campaigns import CampaignService
    from autoinformer.contacts import ContactListService
    from crm_bridge.accounts import AccountData, upsert_accounts
    from crm_bridge.models import Operator, OperatorRole
    from crm_bridge.passwords import hash_password

    tz = daytime_zone()
    items = [
        AccountData(
            number=f"55{i:08d}", holder_name=f"Абонент {i}", phones=(p,), debt=1234, timezone=tz
        )
        for i, p in enumerate(phones)
    ]
    with db.session(write=True) as s:
        upsert_accounts(s, items)
        s.add(
            Operator(
                login=login,
                name="Диспетчер",
                role=OperatorRole.SUPERVISOR,
                password_hash=hash_password("bench-pass"),
            )
        )
    cs = CampaignService(db)
    cid = cs.create(
        "Бенчмарк обзвона",
        "debt",
        start_at=datetime(2000, 1, 1, tzinfo=UTC),
        end_at=datetime(2100, 1, 1, tzinfo=UTC),
        caps_230fz=False,
        max_attempts=2,
        ring_timeout=5,
        retry_delays={"busy": 20, "noanswer": 20, "congestion": 20, "failed": 20, "lost": 20},
        scenario=[
            {"prompt": "outbound/greeting"},
            {"prompt": "outbound/debt_amount"},
            {"say": "money", "var": "debt"},
            {"prompt": "outbound/if_paid"},
        ],
    )
    res = ContactListService(db).import_rows(cid, [{"phone": p} for p in phones])
    if res.rejected:
        raise SystemExit(f"import rejected {len(res.rejected)} rows: {res.rejected[:3]}")
    cs.submit(cid, "bench-dispatcher")
    cs.approve(cid, login, "supervisor")
    return cid


def ready_count(db: Any, cid: int) -> int:
    """Contacts that could be dialled right now (work remains)."""
    from sqlalchemy import func, select

    from autoinformer.models import Contact
    from crm_bridge.db import utcnow

    now = utcnow()
    with db.session(readonly=True) as s:
        return int(
            s.scalar(
                select(func.count()).where(
                    Contact.campaign_id == cid,
                    Contact.status == "pending",
                    (Contact.next_at.is_(None)) | (Contact.next_at <= now),
                )
            )
            or 0
        )


async def watch_dashboard(
    url: str, login: str, cid: int, latencies: list[float], stop: asyncio.Event
) -> int:
    """A dispatcher's browser: log in, follow the campaign's WebSocket."""
    import aiohttp

    updates = 0
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(  # the one log-in page (webedge)
            url + "login",
            data={"login": login, "password": "bench-pass", "next": "/dispatcher/"},
        ) as resp:
            resp.raise_for_status()
        ws_url = url.replace("http://", "ws://") + f"dispatcher/ws?campaign={cid}"
        async with http.ws_connect(ws_url) as ws:
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), 1.0)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(msg.data)
                updates += 1
                if data.get("event_ts"):
                    latencies.append(time.time() - float(data["event_ts"]))
    return updates


async def main_async(args: argparse.Namespace) -> int:
    settings = bench_settings("dialer").replace(
        outbound_trunk=TRUNK,
        dialer_lines=args.lines,
        dialer_cps=args.cps,
        log_level="WARNING",
    )
    settings.data.mkdir(parents=True, exist_ok=True)
    catalogue = PromptCatalogue.load()
    generate(
        catalogue.subset(
            [i for i in catalogue.ids() if i.startswith(("outbound/", "common/", "words/"))]
        ),
        settings.sounds_dir,
    )
    sandbox = Sandbox(settings)
    sandbox.up()
    phones = numbers(args.contacts)
    login = "bench-dispatcher"
    try:
        async with Runtime(settings, components=("fastagi", "ami", "web", "dialer")) as rt:
            dialer = rt.extra["dialer"]
            services = rt.services
            assert services is not None
            db = services.db
            obs = Observer(settings)
            await obs.ami.start(wait=20)
            await dialer.wait_ready(30)
            t_setup = time.monotonic()
            cid = await services.run_db(setup_db, db, phones, login)
            print(
                f"{args.contacts} contacts imported in {time.monotonic() - t_setup:.1f} s; "
                f"lines {args.lines}, cap {args.cps} calls/s",
                flush=True,
            )
            originates: list[float] = []
            inflight_max: dict[int, int] = defaultdict(int)
            monitor = dialer.monitor
            original_publish = monitor.publish

            def publish(event: dict[str, Any]) -> None:
                if event.get("event") == "dialing":
                    originates.append(float(event["ts"]))
                original_publish(event)

            monitor.publish = publish  # type: ignore[method-assign]
            latencies: list[float] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_dashboard(rt.web_url, login, cid, latencies, stop))
            await asyncio.sleep(1.0)
            from autoinformer.campaigns import CampaignService

            cs = CampaignService(db)
            await services.run_db(cs.launch, cid)
            dialer.poke()
            t0 = time.monotonic()
            util_samples: list[float] = []
            backlog_samples: list[float] = []
            backlog_seconds: set[int] = set()
            last_print = t0
            ready = 1
            last_ready_check = 0.0
            while True:
                now = time.monotonic()
                if now - last_ready_check >= 0.5:
                    ready = await services.run_db(ready_count, db, cid)
                    last_ready_check = now
                    st = await services.run_db(cs.stats, cid)
                    if st.status == "completed":
                        break
                # Work remains: contacts are ready and the dialer has taken the
                # first batch (the ramp-up at CPS is counted).
                if ready > 0 and originates:
                    util_samples.append(dialer.in_flight / dialer.lines)
                    if ready >= dialer.lines - dialer.in_flight:
                        # Enough work to fill every free line.
                        backlog_samples.append(dialer.in_flight / dialer.lines)
                        backlog_seconds.add(int(time.time()))
                        if args.verbose:
                            print(f"    {now - t0:6.1f} in flight {dialer.in_flight} ready {ready}")
                inflight_max[int(now - t0)] = max(inflight_max[int(now - t0)], dialer.in_flight)
                if now - last_print > 30:
                    last_print = now
                    u = sum(util_samples) / len(util_samples) if util_samples else 0.0
                    print(
                        f"  t={now - t0:5.0f} s finished {st.finished}/{st.total} "
                        f"in flight {dialer.in_flight} utilisation so far {u:.1%}",
                        flush=True,
                    )
                if now - t0 > args.timeout:
                    print("TIMEOUT: the campaign did not complete", flush=True)
                    break
                await asyncio.sleep(0.2)
            wall = time.monotonic() - t0
            await asyncio.sleep(1.5)
            stop.set()
            updates = await watcher
            st = await services.run_db(cs.stats, cid)
            attempts = await services.run_db(cs.attempts, cid)
            await obs.ami.close()
    finally:
        sandbox.down()
        if not args.keep:
            shutil.rmtree(settings.data, ignore_errors=True)

    # -- figures ------------------------------------------------------------------
    rows = {a.channel_id: a for a in attempts}
    dup_created = sum(n - 1 for n in obs.created.values() if n > 1)
    strays = sum(1 for uid in obs.created if uid not in rows)
    per_contact: dict[int, list[Any]] = defaultdict(list)
    for a in attempts:
        per_contact[a.contact_id].append(a)
    overlapping = 0
    for rows_c in per_contact.values():
        spans = sorted((a.created_at, a.ended_at or a.created_at) for a in rows_c)
        overlapping += sum(1 for x, y in itertools.pairwise(spans) if y[0] < x[1])
    twice_positive = sum(
        1 for rows_c in per_contact.values() if sum(a.positive for a in rows_c) > 1
    )
    not_done = sum(1 for a in attempts if a.state != "done")
    dialled_rows = sum(1 for a in attempts if obs.created.get(a.channel_id or ""))
    originates.sort()
    span = (originates[-1] - originates[0]) if len(originates) > 1 else 0.0
    peak_window = 0
    for i, t in enumerate(originates):
        j = bisect.bisect_left(originates, t + 1.0)
        peak_window = max(peak_window, j - i)
    util = sum(util_samples) / len(util_samples) if util_samples else 0.0
    busy_util = sum(backlog_samples) / len(backlog_samples) if backlog_samples else 0.0
    backlog_originates = sum(1 for t in originates if int(t) in backlog_seconds)
    backlog_cps = backlog_originates / len(backlog_seconds) if backlog_seconds else 0.0
    print()
    print(
        f"campaign: {st.total} contacts, {st.attempts} attempts, status {st.status}, {wall:.0f} s"
    )
    print(
        f"line utilisation while work remains: {busy_util:.1%} of {args.lines} lines "
        f"while ready contacts >= free lines ({len(backlog_samples)} samples; target >= 95 %); "
        f"{util:.1%} while any contact is ready ({len(util_samples)} samples, includes "
        f"the retry trickle)"
    )
    print(
        f"calls per second: {len(originates) / span if span else 0:.2f} achieved "
        f"against the cap {args.cps} (ratio {len(originates) / span / args.cps if span else 0:.2f}); "
        f"most Originates in any 1 s window: {peak_window} (must be <= {args.cps}); "
        f"{backlog_cps:.2f} calls/s while ready contacts >= free lines"
    )
    print(
        f"duplicate dials: {dup_created + strays + overlapping + twice_positive} "
        f"(ChannelId created twice {dup_created}, channels without a row {strays}, "
        f"overlapping attempts of a contact {overlapping}, contacts reached twice "
        f"{twice_positive}; target 0)"
    )
    print(
        f"attempt rows {len(attempts)}, of them dialled in Asterisk {dialled_rows}, "
        f"channels Asterisk created {len(obs.created)}, rows left open {not_done}"
    )
    print(
        f"AMI event -> dashboard update latency: p50 {1000 * pct(latencies, 50):.0f} ms, "
        f"p99 {1000 * pct(latencies, 99):.0f} ms, max {1000 * max(latencies or [0]):.0f} ms "
        f"over {len(latencies)} updates ({updates} WebSocket messages; target p99 < 1000 ms)"
    )
    print("final results: " + ", ".join(f"{k} {v}" for k, v in sorted(st.final.items())))
    print("attempt results: " + ", ".join(f"{k} {v}" for k, v in sorted(st.results.items())))
    print(f"positive-call rate: {st.positive_rate:.1%}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--contacts", type=int, default=5000)
    p.add_argument("--lines", type=int, default=60)
    p.add_argument("--cps", type=int, default=10)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    p.add_argument("--verbose", action="store_true", help="print every utilisation sample")
    args = p.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
