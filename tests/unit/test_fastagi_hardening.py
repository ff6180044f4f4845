"""The FastAGI server under hostile connections, over real sockets.

A connection that sends nothing, sends garbage, sends 1 MB of headers or
closes at once costs nothing: the CPU stays idle, other calls go on, and
the server logs one line per bad connection.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from telephony.channel import Channel
from telephony.contract import Next
from telephony.fastagi import DuplicateRoute, FastAgiServer, RouteTable


async def short_flow(ch: Channel, deps: object) -> None:
    await ch.play("selftest/hello")
    got = await ch.read_digits("selftest/enter_digits", max_digits=2, timeout=1.0)
    await ch.next(Next.HANGUP, HOTLINE_TEST=got.digits or "")


def _headers(route: str, uid: str) -> bytes:
    return (
        f"agi_network: yes\nagi_network_script: {route}\nagi_request: agi://127.0.0.1/{route}\n"
        f"agi_channel: Local/test-{uid}\nagi_uniqueid: {uid}\nagi_callerid: 79001234567\n\n"
    ).encode()


async def fake_asterisk_call(port: int, uid: str, route: str = "short") -> list[str]:
    """Plays Asterisk's side of one FastAGI call; returns the commands received."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(_headers(route, uid))
    await w.drain()
    commands: list[str] = []
    while True:
        line = await asyncio.wait_for(r.readline(), 5)
        if not line:
            break
        cmd = line.decode().strip()
        commands.append(cmd)
        if cmd.startswith("STREAM FILE"):
            w.write(b"200 result=0 endpos=8000\n")
        elif cmd.startswith("EXEC Read"):
            w.write(b"200 result=0\n")
        elif cmd.startswith("GET FULL VARIABLE ${READSTATUS}"):
            w.write(b"200 result=1 (OK|77)\n")  # the caller keyed "77" (max digits reached)
        elif cmd.startswith("WAIT FOR DIGIT"):
            w.write(
                b"200 result=55\n"
                if len([c for c in commands if c.startswith("WAIT")]) < 3
                else b"200 result=0\n"
            )
        else:
            w.write(b"200 result=1\n")
        await w.drain()
    w.close()
    return commands


@pytest.fixture
async def server():
    table = RouteTable()
    table.add("short", short_flow)
    srv = FastAgiServer(table, None, host="127.0.0.1", port=0, header_timeout=0.5)
    await srv.start()
    yield srv
    await srv.stop(grace=1)


def test_route_table_rejects_duplicates_and_plain_functions() -> None:
    table = RouteTable()
    table.add("a", short_flow)
    with pytest.raises(DuplicateRoute):
        table.add("a", short_flow)
    with pytest.raises(TypeError):
        table.add("b", lambda ch, deps: None)  # type: ignore[arg-type]


async def test_a_normal_call_runs_the_flow(server: FastAgiServer) -> None:
    commands = await fake_asterisk_call(server.port, "u-1")
    assert commands[0].startswith("STREAM FILE")
    assert "SET VARIABLE HOTLINE_TEST 77" in commands
    assert commands[-1] == "SET VARIABLE HOTLINE_STATUS OK"
    assert server.hub.get("u-1").last("end").detail["outcome"] == "completed"


@pytest.mark.parametrize(
    ("name", "payload", "close_after", "expected_log"),
    [
        ("silent", b"", False, "no request within"),
        (
            "garbage",
            b"\x00\xffGET / HTTP/1.1\r\nHost: x\r\n\r\nrandom bytes \x01\x02",
            False,
            "no request within",
        ),
        ("garbage-terminated", b"hello world\nfoo\n\n", False, "not an AGI request"),
        ("one-megabyte", b"agi_x: " + b"A" * (1024 * 1024) + b"\n\n", False, "request over"),
        ("closes-at-once", b"", True, "closed before any request"),
        ("closes-mid-request", b"agi_network: yes\nagi_netw", True, "closed mid-request"),
    ],
)
async def test_hostile_connection_costs_nothing(
    server: FastAgiServer,
    caplog: pytest.LogCaptureFixture,
    name: str,
    payload: bytes,
    close_after: bool,
    expected_log: str,
) -> None:
    caplog.set_level(logging.INFO, logger="telephony.fastagi")
    cpu0, wall0 = time.process_time(), time.monotonic()
    r, w = await asyncio.open_connection("127.0.0.1", server.port)
    if payload:
        w.write(payload)
        try:
            await w.drain()
        except ConnectionError:
            pass
    if close_after:
        w.close()
    # other calls go on while the bad connection is open
    good = await asyncio.gather(*(fake_asterisk_call(server.port, f"{name}-{i}") for i in range(5)))
    assert all(c[-1] == "SET VARIABLE HOTLINE_STATUS OK" for c in good)
    # the server closes the bad connection by itself
    try:
        data = await asyncio.wait_for(r.read(), 3.0)
    except ConnectionResetError:  # closed with our unread bytes pending: a reset
        data = b""
    assert data == b""
    w.close()
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    # idle: a spinning reader would burn ~100 % of the wall time
    assert cpu < 0.5 * wall + 0.05, f"{name}: cpu {cpu:.3f}s over {wall:.3f}s"
    lines = [
        r
        for r in caplog.records
        if r.name == "telephony.fastagi" and expected_log in r.getMessage()
    ]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert server.active_calls == 0


async def test_shutdown_cancels_owned_calls() -> None:
    gate = asyncio.Event()

    async def stuck(ch: Channel, deps: object) -> None:
        gate.set()
        await asyncio.sleep(3600)

    table = RouteTable()
    table.add("stuck", stuck)
    srv = FastAgiServer(table, None, host="127.0.0.1", port=0)
    await srv.start()
    r, w = await asyncio.open_connection("127.0.0.1", srv.port)
    w.write(_headers("stuck", "u-stuck"))
    await w.drain()
    await asyncio.wait_for(gate.wait(), 2)
    assert srv.active_calls == 1
    stop = asyncio.create_task(srv.stop(grace=0.2))
    # the cancelled call still sends the caller to the fallback branch
    line = await asyncio.wait_for(r.readline(), 3)
    assert line.decode().strip() == "SET VARIABLE HOTLINE_STATUS FAILED"
    w.write(b"200 result=1\n")
    await w.drain()
    await asyncio.wait_for(stop, 5)
    assert srv.active_calls == 0
    assert srv.hub.get("u-stuck").last("end").detail["outcome"] == "failed"
    w.close()


async def closed_unanswered(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection without answering (EOF, or a reset
    because our request was left unread)."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


async def test_peer_outside_the_allow_list_is_closed_unread() -> None:
    """Issue 11: only Asterisk's address may reach the flows; another peer
    (here 127.0.0.2, a second loopback address) is closed before a byte is
    read, and the flow never runs."""
    ran: list[str] = []

    async def flow(ch: Channel, deps: object) -> None:
        ran.append(ch.call_id)

    table = RouteTable()
    table.add("short", flow)
    srv = FastAgiServer(table, None, host="0.0.0.0", port=0, allow=("127.0.0.1/32",))
    await srv.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", srv.port, local_addr=("127.0.0.2", 0))
        w.write(_headers("short", "refused-1"))
        await w.drain()
        assert await closed_unanswered(r)
        w.close()
        assert srv.stats.rejected == 1 and srv.stats.calls == 0 and ran == []
        # Asterisk's own address is served.
        commands = await fake_asterisk_call(srv.port, "allowed-1")
        assert ran == ["allowed-1"] and commands
    finally:
        await srv.stop(grace=1)


async def test_connections_beyond_the_cap_are_refused_at_once() -> None:
    """A flood of connections cannot take the event loop: past
    ``max_connections`` a new one is closed at once (Asterisk then runs the
    fallback branch), and a served call goes on."""
    release = asyncio.Event()

    async def held(ch: Channel, deps: object) -> None:
        await release.wait()

    table = RouteTable()
    table.add("held", held)
    srv = FastAgiServer(table, None, host="127.0.0.1", port=0, max_connections=1)
    await srv.start()
    try:
        _r1, w1 = await asyncio.open_connection("127.0.0.1", srv.port)
        w1.write(_headers("held", "first"))
        await w1.drain()
        for _ in range(100):
            if srv.stats.calls == 1:
                break
            await asyncio.sleep(0.01)
        r2, w2 = await asyncio.open_connection("127.0.0.1", srv.port)
        w2.write(_headers("held", "second"))
        await w2.drain()
        assert await closed_unanswered(r2)
        w2.close()
        assert srv.stats.rejected == 1 and srv.stats.calls == 1
        release.set()
        w1.write(b"200 result=1\n" * 4)
        await w1.drain()
        w1.close()
    finally:
        await srv.stop(grace=1)
