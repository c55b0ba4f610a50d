"""The asyncio Redis driver through the seam (``rpcmsg.driver.aio``), on the live Redis."""

from __future__ import annotations

import asyncio
import time

import pytest

from rpcmsg.exceptions import MessageDeliveryFailure, MessageUndeliverable
from rpcmsg.target import Target
from tests.aioredis.conftest import deadline_in, make_driver, run, target
from tests.redis.conftest import RedisEnv

pytestmark = pytest.mark.redis


def test_call_reaches_a_listener_and_its_reply_comes_back(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        server, client = make_driver(renv), make_driver(renv)
        replies: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
        listener = await server.listen(target(renv, topic, server="s1"))
        consumer = await client.open_reply_consumer(
            lambda body, ct: replies.put_nowait((body, ct)), deadline_in(5)
        )
        assert consumer.address.startswith(f"{renv.prefix}:reply:")
        await client.send(target(renv, topic), b"req", expiration=5, deadline=deadline_in(5))
        incoming = await listener.poll(5)
        assert incoming is not None and incoming.body == b"req"
        assert incoming.content_type == "application/json" and not incoming.redelivered
        await incoming.ack()
        await server.send_reply(consumer.address, b'{"result": 3}')
        body, content_type = await asyncio.wait_for(replies.get(), 5)
        assert body == b'{"result": 3}' and content_type == "application/json"
        await consumer.close()
        assert not renv.raw.exists(consumer.address)
        await listener.cleanup()
        await server.aclose()
        await client.aclose()

    run(main())


def test_casts_requeue_server_addresses_and_fanout(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv)
        a = await driver.listen(target(renv, topic, server="a"))
        b = await driver.listen(target(renv, topic, server="b"))
        await driver.send(target(renv, topic, server="b"), b"to-b")
        got = await b.poll(5)
        assert got is not None and got.body == b"to-b" and not got.redelivered
        await got.requeue()
        again = await b.poll(5)
        assert again is not None and again.body == b"to-b" and again.redelivered
        await again.ack()
        assert await a.poll(0.3) is None  # the server address reached b only
        await driver.send(target(renv, topic, fanout=True), b"all")
        for listener in (a, b):
            copy = await listener.poll(5)
            assert copy is not None and copy.body == b"all"
            await copy.ack()
        for listener in (a, b):
            await listener.cleanup()
        assert renv.keys("f:*") == []  # fanout streams go with their listeners
        await driver.aclose()

    run(main())


def test_acknowledged_casts_are_deleted_and_shared_among_listeners(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv)
        listeners = [await driver.listen(target(renv, topic, server=f"s{i}")) for i in range(2)]
        for i in range(20):
            await driver.send(target(renv, topic), b"%d" % i)
        seen: list[bytes] = []

        async def drain(listener: object) -> None:
            while len(seen) < 20:
                incoming = await listener.poll(0.2)  # type: ignore[attr-defined]
                if incoming is not None:
                    seen.append(incoming.body)
                    await incoming.ack()

        await asyncio.gather(*(drain(listener) for listener in listeners))
        assert sorted(seen) == sorted(b"%d" % i for i in range(20))
        for listener in listeners:
            await listener.cleanup()  # writes the last acks
        assert renv.raw.xlen(f"{renv.prefix}:q:{topic}") == 0
        await driver.aclose()

    run(main())


def test_mandatory_send_to_a_topic_nobody_serves(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv)
        await driver.send(target(renv, topic), b"lost")  # dropped, no error
        with pytest.raises(MessageUndeliverable):
            await driver.send(target(renv, topic), b"x", mandatory=True)
        with pytest.raises(MessageUndeliverable):
            await driver.send(target(renv, topic), b"x", expiration=1, mandatory=True)
        with pytest.raises(TypeError):
            await driver.send(target(renv, topic), "text")  # type: ignore[arg-type]
        await driver.aclose()

    run(main())


def test_a_full_stream_refuses_and_trims_nothing(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv, stream_max_length=5)
        listener = await driver.listen(target(renv, topic, server="s"))
        await listener.stop()  # the stream stays, nobody reads
        for i in range(5):
            await driver.send(target(renv, topic), b"%d" % i)
        with pytest.raises(MessageDeliveryFailure, match="stream_max_length"):
            await driver.send(target(renv, topic), b"5")
        for i in range(5):  # nobody ever listened: the default stream keeps them
            await driver.send_notification(target(renv, topic), b"n%d" % i)
        with pytest.raises(MessageDeliveryFailure):
            await driver.send_notification(target(renv, topic), b"n5")
        await listener.cleanup()
        assert renv.raw.xlen(f"{renv.prefix}:q:{topic}") == 5
        assert renv.raw.xlen(f"{renv.prefix}:n:{topic}") == 5
        await driver.aclose()

    run(main())


def test_notifications_default_stream_and_pools(renv: RedisEnv) -> None:
    address = renv.unique("notif") + ".info"

    async def main() -> None:
        driver = make_driver(renv)
        await driver.send_notification(target(renv, address), b"early")  # kept for later
        plain = await driver.listen_for_notifications([target(renv, address)], None)
        pool_a = await driver.listen_for_notifications([target(renv, address)], "pool-a")
        await driver.send_notification(target(renv, address), b"n1")
        bodies = []
        for _ in range(2):
            incoming = await plain.poll(5)
            assert incoming is not None
            bodies.append(incoming.body)
            await incoming.ack()
        assert bodies == [b"early", b"n1"]
        incoming = await pool_a.poll(5)
        assert incoming is not None and incoming.body == b"n1"
        await incoming.ack()
        assert await pool_a.poll(0.2) is None
        for listener in (plain, pool_a):
            await listener.cleanup()
        await driver.aclose()

    run(main())


def test_an_expired_call_request_is_dropped(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv)
        listener = await driver.listen(target(renv, topic, server="s"))
        await listener.stop()
        await listener.cleanup()  # the topic's stream stays: calls are let in
        await driver.send(target(renv, topic), b"old", expiration=0.05)
        await asyncio.sleep(0.1)
        await driver.send(target(renv, topic), b"new", expiration=5)
        listener = await driver.listen(target(renv, topic, server="s"))
        incoming = await listener.poll(5)
        assert incoming is not None and incoming.body == b"new"
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_cleanup_gives_back_what_was_taken_and_not_settled(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv, prefetch_count=4)
        first = await driver.listen(target(renv, topic, server="s"))
        for i in range(3):
            await driver.send(target(renv, topic), b"cast%d" % i)
            await driver.send(target(renv, topic), b"call%d" % i, expiration=30)
        taken = await first.poll(5)  # one polled, not settled; the others read ahead
        assert taken is not None
        await asyncio.sleep(0.3)
        await first.cleanup()
        second = await driver.listen(target(renv, topic, server="s"))
        got = []
        while (incoming := await second.poll(1)) is not None:
            got.append(incoming.body)
            await incoming.ack()
        assert sorted(got) == sorted([b"cast0", b"cast1", b"cast2", b"call0", b"call1", b"call2"])
        await second.cleanup()
        await driver.aclose()

    run(main())


def test_stop_wakes_pollers_and_readers_at_once(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv, socket_timeout=10)
        listener = await driver.listen(target(renv, topic, server="s"))
        pollers = [asyncio.create_task(listener.poll(None)) for _ in range(3)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await listener.stop()
        assert await asyncio.gather(*pollers) == [None, None, None]
        await listener.cleanup()  # the blocking reads (up to 5 s) ended at once
        assert time.monotonic() - started < 2.0
        assert renv.keys("bell:*") == []
        await driver.aclose()

    run(main())


def test_a_driver_belongs_to_one_loop(renv: RedisEnv) -> None:
    driver = make_driver(renv)
    topic = renv.unique()
    run(driver.send(target(renv, topic), b"x"))
    from rpcmsg.exceptions import TransportDriverError

    with pytest.raises(TransportDriverError, match="event loop"):
        run(driver.send(target(renv, topic), b"x"))


def test_exchanges_and_virtual_hosts_do_not_see_each_other(renv: RedisEnv) -> None:
    topic = renv.unique()
    renv.extra_prefixes.append("rpcmsg:vhost-a")

    async def main() -> None:
        base = renv.url.split("?")[0].rsplit("/", 1)[0]
        in_vhost = make_driver(renv, url=f"{base}/vhost-a")
        plain = make_driver(renv)
        listener = await plain.listen(target(renv, topic, server="s"))
        with pytest.raises(MessageUndeliverable):
            await in_vhost.send(target(renv, topic), b"x", mandatory=True)
        other = Target(exchange=renv.exchange + "-other", topic=topic)
        renv.extra_prefixes.append(f"rpcmsg:{renv.exchange}-other")
        with pytest.raises(MessageUndeliverable):
            await plain.send(other, b"x", mandatory=True)
        await listener.cleanup()
        await in_vhost.aclose()
        await plain.aclose()

    run(main())


def test_a_listener_reads_ahead_at_most_its_prefetch_window(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv, prefetch_count=4)
        listener = await driver.listen(target(renv, topic, server="s"))
        for i in range(20):
            await driver.send(target(renv, topic), b"cast%d" % i)
            await driver.send(target(renv, topic), b"call%d" % i, expiration=30)
        await asyncio.sleep(1.0)  # nobody polls: the readers fill the window and wait
        pending = renv.raw.xpending(f"{renv.prefix}:q:{topic}", "rpc")["pending"]
        calls_left = renv.raw.llen(f"{renv.prefix}:c:{topic}")
        assert pending <= 4 and 20 - calls_left <= 4
        assert pending + (20 - calls_left) >= 4  # and they did read ahead
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_concurrent_senders_share_a_bounded_pool(renv: RedisEnv) -> None:
    from rpcmsg_drivers.aioredis.connection import POOL_SIZE

    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv)
        listener = await driver.listen(target(renv, topic, server="s"))
        await asyncio.gather(*(driver.send(target(renv, topic), b"x") for _ in range(300)))
        name = driver.factory.name  # type: ignore[attr-defined]
        publishers = [c for c in renv.raw.client_list() if c.get("name", "") == f"{name}:pub"]
        assert 1 < len(publishers) <= POOL_SIZE
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_entries_another_writer_mangled_do_not_stop_the_reader(renv: RedisEnv) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv)
        listener = await driver.listen(target(renv, topic, server="s"))
        stream = f"{renv.prefix}:q:{topic}"
        renv.raw.xadd(stream, {"x": "no body"})  # nothing to deliver: acknowledged, dropped
        renv.raw.xadd(stream, {"b": b"odd", "c": b"\xff\xfe"})  # the core judges the body
        renv.raw.lpush(f"{renv.prefix}:c:{topic}", b"not a framed call")
        await driver.send(target(renv, topic), b"fine")
        got = {}
        while (incoming := await listener.poll(1)) is not None:
            got[incoming.body] = incoming.content_type
            await incoming.ack()
        assert got.pop(b"fine") == "application/json"
        assert got.pop(b"odd") == "\ufffd\ufffd"
        assert len(got) == 1  # the unframed call, as whatever it unframes to
        await listener.cleanup()
        assert renv.raw.xlen(stream) == 0
        await driver.aclose()

    run(main())
