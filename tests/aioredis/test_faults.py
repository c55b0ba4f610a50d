"""Deadlines, cancellation and connection faults of the asyncio Redis driver, on the live
Redis (misbehaving links from tests/helpers/brokers.py and tests/faults/proxy.py)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time

import pytest

from rpcmsg.driver.base import DEADLINE_SLACK
from rpcmsg.exceptions import MessageUndeliverable, MessagingTimeout, TransportDriverError
from tests.aioredis.conftest import deadline_in, make_driver, run, target
from tests.faults.proxy import FaultProxy
from tests.helpers.brokers import silent_broker, slow_broker
from tests.redis.conftest import RedisEnv

pytestmark = pytest.mark.redis


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_call_send_ends_by_its_deadline_on_a_silent_broker(renv: RedisEnv) -> None:
    with silent_broker() as port:

        async def main() -> None:
            driver = make_driver(renv, url=f"redis://127.0.0.1:{port}/0")
            started = time.monotonic()
            with pytest.raises(MessagingTimeout):
                await driver.send(target(renv, "t"), b"x", expiration=1, deadline=deadline_in(1))
            assert time.monotonic() - started < 1 + DEADLINE_SLACK
            await driver.aclose()

        run(main())


def test_a_cast_makes_retry_plus_one_attempts_then_fails(renv: RedisEnv) -> None:
    port = _free_port()  # nothing listens: refused

    async def main() -> None:
        driver = make_driver(renv, url=f"redis://127.0.0.1:{port}/0", retry_interval=0.2)
        started = time.monotonic()
        with pytest.raises(TransportDriverError, match="sending a request"):
            await driver.send(target(renv, "t"), b"x", retry=2)
        elapsed = time.monotonic() - started
        assert 0.2 + 0.4 <= elapsed < 3.0  # two backoffs: 0.2 then 0.4
        await driver.aclose()

    run(main())


def test_a_cast_without_deadline_ends_on_a_silent_broker(renv: RedisEnv) -> None:
    with silent_broker() as port:

        async def main() -> None:
            driver = make_driver(
                renv,
                url=f"redis://127.0.0.1:{port}/0",
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            started = time.monotonic()
            with pytest.raises(TransportDriverError):
                await driver.send(target(renv, "t"), b"x", retry=0)
            assert time.monotonic() - started < 1.0 + DEADLINE_SLACK
            await driver.aclose()

        run(main())


def test_a_send_cancelled_mid_command_discards_its_connection(renv: RedisEnv) -> None:
    """The reply of a cancelled command must never be read as the next command's."""
    served, unserved = renv.unique(), renv.unique()
    with slow_broker(6379, 0.2) as port:

        async def main() -> None:
            listener = await make_driver(renv).listen(target(renv, served, server="s"))
            driver = make_driver(renv, url=f"redis://127.0.0.1:{port}/0")
            await driver.send(target(renv, served), b"warm", mandatory=True)  # pool has one
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):  # its 0 ("nobody serves") is on its way
                    await driver.send(target(renv, unserved), b"x", mandatory=True)
            await asyncio.sleep(0.6)
            for _ in range(3):  # each answered 1 ("delivered"), not the stale 0
                await driver.send(target(renv, served), b"next", mandatory=True)
            with pytest.raises(MessageUndeliverable):
                await driver.send(target(renv, unserved), b"x", mandatory=True)
            await listener.cleanup()
            await driver.aclose()

        run(main())


def test_cancelled_polls_lose_no_message(renv: RedisEnv) -> None:
    topic = renv.unique()
    count = 300

    async def main() -> None:
        driver = make_driver(renv)
        listener = await driver.listen(target(renv, topic, server="s"))
        got: list[bytes] = []

        async def send() -> None:
            for i in range(count):
                call = i % 2 == 0
                await driver.send(target(renv, topic), b"%d" % i, expiration=30 if call else None)

        async def poll_and_cancel() -> None:
            rng = random.Random(7)
            while len(got) < count:
                task = asyncio.create_task(listener.poll(1))
                await asyncio.sleep(rng.choice([0, 0, 0.0005, 0.001]))
                if rng.random() < 0.5:
                    task.cancel()
                try:
                    incoming = await task
                except asyncio.CancelledError:
                    continue
                if incoming is not None:
                    got.append(incoming.body)
                    await incoming.ack()

        await asyncio.gather(send(), poll_and_cancel())
        assert sorted(got) == sorted(b"%d" % i for i in range(count))
        await listener.cleanup()
        await driver.aclose()

    run(main(), timeout=90)


def test_a_listener_survives_its_connections_cut_and_loses_no_cast(renv: RedisEnv) -> None:
    topic = renv.unique()
    with FaultProxy(6379) as proxy:

        async def main() -> None:
            url = proxy.url(renv.url)
            server = make_driver(renv, url=url, retry_interval=0.1, claim_idle_time=3)
            client = make_driver(renv)
            listener = await server.listen(target(renv, topic, server="s"))
            got: set[bytes] = set()
            for i in range(50):
                await client.send(target(renv, topic), b"%d" % i)
                if i in (10, 30):
                    await asyncio.to_thread(proxy.reset, "both")
                incoming = await listener.poll(0.01)
                if incoming is not None:
                    got.add(incoming.body)
                    await incoming.ack()
            deadline = time.monotonic() + 20
            while len(got) < 50 and time.monotonic() < deadline:
                incoming = await listener.poll(0.5)
                if incoming is not None:
                    got.add(incoming.body)
                    await incoming.ack()
            assert got == {b"%d" % i for i in range(50)}
            await listener.cleanup()
            await server.aclose()
            await client.aclose()

        run(main())


_DYING_CONSUMER = """
import asyncio, os, sys
sys.path.insert(0, os.getcwd())
from tests.aioredis.conftest import make_driver, target
from tests.redis.conftest import RedisEnv
from tests.drivers import SPECS, DriverEnv

env = RedisEnv(DriverEnv(SPECS["redis"]))
env.exchange = sys.argv[1]

async def main():
    driver = make_driver(env, claim_idle_time=60)
    listener = await driver.listen(target(env, sys.argv[2], server="s"))
    incoming = await listener.poll(10)
    print(incoming.body.decode(), flush=True)
    os._exit(0)  # dies holding it, unacknowledged

asyncio.run(main())
"""


def test_a_cast_held_by_a_consumer_that_died_is_delivered_again(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        # Idle entries are claimed after a minute only: what follows is the takeover of a
        # consumer whose connection is gone (CLIENT LIST), at the survivor's first beat.
        driver = make_driver(renv, claim_idle_time=60)
        listener = await driver.listen(target(renv, topic, server="s"))
        await listener.stop()  # the survivor reads nothing until the other one died
        await listener.cleanup()
        dying = subprocess.Popen(
            [sys.executable, "-c", _DYING_CONSUMER, renv.exchange, topic],
            stdout=subprocess.PIPE,
            cwd=os.getcwd(),
        )
        await asyncio.sleep(1.0)
        await driver.send(target(renv, topic), b"precious")
        out, _ = await asyncio.to_thread(dying.communicate, timeout=30)
        assert out.strip() == b"precious"
        survivor = await driver.listen(target(renv, topic, server="s"))
        incoming = await survivor.poll(10)
        assert incoming is not None and incoming.body == b"precious" and incoming.redelivered
        await incoming.ack()
        await survivor.cleanup()
        await driver.aclose()

    run(main())
