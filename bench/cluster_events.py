"""Live events and actions across nodes through PostgreSQL (issue 13 item 10).

    .venv/bin/python bench/cluster_events.py --pg-url postgresql+psycopg://postgres@127.0.0.1:55488/postgres
        [--events 500] [--calls 200] [--actions 100]

Two nodes' services in this process on one PostgreSQL, each with its
``cluster`` bridge (``nodes/bridge.py``: its own LISTEN connection and its
own NOTIFY connection, as two ``hotline run`` would have). Measured, p50 /
p99 / max:

* an event published on node A's bus (an operator's call connected) until
  node B's subscriber has it;
* a call row written by node A (the listener's upsert, committed) until
  node B's bus has the database's ``calls`` notification (the trigger);
* a hang-up request from B to A and A's answer (A has no such channel: the
  round trip of the request alone, without Asterisk's own hang-up).

Events are 10 ms apart. The bench makes its own database
``hotline_bench_cluster`` on the server (a throw-away one:
scripts/pg-test-cluster.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import bench_settings, fresh_pg_database, pct


def line(name: str, ms: list[float]) -> str:
    return (
        f"{name} ({len(ms)}): p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms"
    )


async def measure(args: argparse.Namespace) -> None:
    from crm_bridge.live import ALL, operator_topic
    from hotline.services import Services
    from nodes.bridge import ClusterBridge

    base = bench_settings("cluster").replace(
        database_url=fresh_pg_database(args.pg_url, "hotline_bench_cluster")
    )
    a_services = Services.create(base.replace(node_name="bench-a"))
    b_services = Services.create(base.replace(node_name="bench-b"), migrate=False)
    a, b = ClusterBridge(a_services), ClusterBridge(b_services)
    await a.start()
    await b.start()
    try:
        # 1. a bus event, node A → node B
        sub = b_services.event_bus.subscribe([ALL])
        bus_ms: list[float] = []
        for i in range(args.events):
            t0 = time.perf_counter()
            a_services.event_bus.publish(operator_topic(1), "call_connected", {"uniqueid": f"e{i}"})
            while True:
                ev = await sub.get(timeout=10)
                if ev.data.get("uniqueid") == f"e{i}":
                    break
            bus_ms.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.01)
        sub.close()

        # 2. a call row written on A → the database's notification on B
        calls = b_services.event_bus.subscribe(["calls"])
        row_ms: list[float] = []
        crm = a_services.crm.calls
        for i in range(args.calls):
            uid = f"bench-{i}"

            def write(uid: str = uid) -> Any:
                return crm.upsert(uid, node="bench-a")

            t0 = time.perf_counter()
            await a_services.run_db(write)
            while True:
                ev = await calls.get(timeout=10)
                if ev.data.get("uniqueid") == uid:
                    break
            row_ms.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.01)
        calls.close()

        # 3. a hang-up request B → A and its answer
        act_ms: list[float] = []
        for i in range(args.actions):
            t0 = time.perf_counter()
            done = await b.hangup("bench-a", f"none-{i}")
            assert done is False
            act_ms.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.01)
    finally:
        await a.stop()
        await b.stop()
        await a_services.aclose()
        await b_services.aclose()
    load = os.getloadavg()
    print(line("bus event, node A → node B", bus_ms))
    print(line("call row committed on A → notification on B (write included)", row_ms))
    print(line("hang-up request B → A → answer", act_ms))
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", required=True, help="a PostgreSQL server")
    p.add_argument("--events", type=int, default=500)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--actions", type=int, default=100)
    args = p.parse_args()
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
