"""A sync and an async Redis driver on one Redis URL talk to each other: same keys, scripts,
framing and consumer groups (driver level; the public API's interop is in the async
conformance suite)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.aioredis.conftest import deadline_in, make_driver, make_sync_driver, run, target
from tests.redis.conftest import RedisEnv

pytestmark = pytest.mark.redis


def test_async_client_to_sync_server(renv: RedisEnv) -> None:
    topic = renv.unique()
    sync = make_sync_driver(renv)
    listener = sync.listen(target(renv, topic, server="s"))

    async def main() -> None:
        driver = make_driver(renv)
        replies: asyncio.Queue[bytes] = asyncio.Queue()
        consumer = await driver.open_reply_consumer(lambda b, ct: replies.put_nowait(b))
        await driver.send(target(renv, topic), b"call", expiration=5, deadline=deadline_in(5))
        await driver.send(target(renv, topic, server="s"), b"cast")
        await driver.send(target(renv, topic, fanout=True), b"fanout")
        got = {}
        for _ in range(3):
            incoming = await asyncio.to_thread(listener.poll, 5)
            assert incoming is not None
            got[incoming.body] = incoming
            incoming.ack()
        assert set(got) == {b"call", b"cast", b"fanout"}
        await asyncio.to_thread(sync.send_reply, consumer.address, b"answer")
        assert await asyncio.wait_for(replies.get(), 5) == b"answer"
        await consumer.close()
        await driver.aclose()

    try:
        run(main())
    finally:
        listener.cleanup()
        sync.cleanup()


def test_sync_client_to_async_server(renv: RedisEnv) -> None:
    topic = renv.unique()
    sync = make_sync_driver(renv)
    replies: list[bytes] = []
    consumer = sync.open_reply_consumer(lambda b, ct: replies.append(b))
    address = renv.unique("notif") + ".info"

    async def main() -> None:
        driver = make_driver(renv)
        listener = await driver.listen(target(renv, topic, server="s"))
        notifications = await driver.listen_for_notifications([target(renv, address)], "pool")
        await asyncio.to_thread(sync.send, target(renv, topic), b"call", expiration=5)
        await asyncio.to_thread(sync.send, target(renv, topic), b"cast")
        await asyncio.to_thread(sync.send_notification, target(renv, address), b"note")
        got = set()
        for _ in range(2):
            incoming = await listener.poll(5)
            assert incoming is not None
            got.add(incoming.body)
            await incoming.ack()
        assert got == {b"call", b"cast"}
        note = await notifications.poll(5)
        assert note is not None and note.body == b"note"
        await note.ack()
        await driver.send_reply(consumer.address, b"answer")
        for _ in range(20):
            if replies:
                break
            await asyncio.to_thread(consumer.poll, 0.25)  # a polled consumer
        assert replies == [b"answer"]
        await listener.cleanup()
        await notifications.cleanup()
        await driver.aclose()

    try:
        run(main())
    finally:
        consumer.close()
        sync.cleanup()


def test_sync_and_async_servers_share_a_topic(renv: RedisEnv) -> None:
    topic = renv.unique()
    sync = make_sync_driver(renv)
    sync_listener = sync.listen(target(renv, topic, server="a"))
    sync_got: list[bytes] = []
    stop = threading.Event()

    def sync_worker() -> None:
        while not stop.is_set():
            incoming = sync_listener.poll(0.2)
            if incoming is not None:
                sync_got.append(incoming.body)
                incoming.ack()

    worker = threading.Thread(target=sync_worker)
    worker.start()

    async def main() -> list[bytes]:
        driver = make_driver(renv)
        listener = await driver.listen(target(renv, topic, server="b"))
        got: list[bytes] = []
        for i in range(40):
            await driver.send(target(renv, topic), b"%d" % i, expiration=10 if i % 2 else None)
        while len(got) + len(sync_got) < 40:
            incoming = await listener.poll(0.2)
            if incoming is not None:
                got.append(incoming.body)
                await incoming.ack()
        await listener.cleanup()
        await driver.aclose()
        return got

    try:
        got = run(main())
    finally:
        stop.set()
        worker.join()
        sync_listener.cleanup()
        sync.cleanup()
    assert sorted(got + sync_got) == sorted(b"%d" % i for i in range(40))  # each once
