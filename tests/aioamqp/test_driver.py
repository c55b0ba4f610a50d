"""The asyncio RabbitMQ driver through the seam (``rpcmsg.driver.aio``), on the real broker."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from rpcmsg.exceptions import MessageUndeliverable, MessagingTimeout, TransportDriverError
from rpcmsg.target import Target
from tests.aioamqp.conftest import deadline_in, make_driver, run
from tests.amqp.admin import rabbitmqctl
from tests.drivers import DriverEnv

pytestmark = pytest.mark.amqp


def server_target(env: DriverEnv, topic: str, server: str = "s1") -> Target:
    return Target(exchange=env.exchange, topic=topic, server=server)


def test_call_reaches_a_listener_and_its_reply_comes_back(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        server, client = make_driver(rabbit), make_driver(rabbit)
        replies: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
        listener = await server.listen(server_target(rabbit, topic))
        consumer = await client.open_reply_consumer(
            lambda body, ct: replies.put_nowait((body, ct)), deadline_in(5)
        )
        assert consumer.address.startswith("reply_")
        request = json.dumps({"reply_to": consumer.address}).encode()
        await client.send(
            Target(exchange=rabbit.exchange, topic=topic),
            request,
            expiration=5,
            deadline=deadline_in(5),
        )
        incoming = await listener.poll(5)
        assert incoming is not None and incoming.body == request
        assert incoming.content_type == "application/json" and not incoming.redelivered
        await incoming.ack()
        await server.send_reply(consumer.address, b'{"result": 3}')
        body, content_type = await asyncio.wait_for(replies.get(), 5)
        assert body == b'{"result": 3}' and content_type == "application/json"
        await consumer.close()
        await listener.cleanup()
        await server.aclose()
        await client.aclose()

    run(main())


def test_a_requeued_cast_is_delivered_again_and_server_and_fanout_addresses_work(
    rabbit: DriverEnv,
) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit)
        a = await driver.listen(server_target(rabbit, topic, "a"))
        b = await driver.listen(server_target(rabbit, topic, "b"))
        await driver.send(Target(exchange=rabbit.exchange, topic=topic, server="b"), b"to-b")
        got = await b.poll(5)
        assert got is not None and got.body == b"to-b"
        await got.requeue()
        again = await b.poll(5)
        assert again is not None and again.body == b"to-b" and again.redelivered
        await again.ack()
        assert await a.poll(0.3) is None  # the server address reached b only
        await driver.send(Target(exchange=rabbit.exchange, topic=topic, fanout=True), b"all")
        for listener in (a, b):
            copy = await listener.poll(5)
            assert copy is not None and copy.body == b"all"
            await copy.ack()
        for listener in (a, b):
            await listener.cleanup()
        await driver.aclose()

    run(main())


def test_mandatory_send_to_an_address_without_queue_raises_undeliverable(
    rabbit: DriverEnv,
) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit)
        started = time.monotonic()
        with pytest.raises(MessageUndeliverable):
            await driver.send(
                Target(exchange=rabbit.exchange, topic=topic),
                b"x",
                expiration=5,
                mandatory=True,
                deadline=deadline_in(5),
            )
        assert time.monotonic() - started < 2.0  # at once, not at the timeout
        listener = await driver.listen(server_target(rabbit, topic))
        await driver.send(  # with a queue bound, the same send goes through
            Target(exchange=rabbit.exchange, topic=topic),
            b"y",
            expiration=5,
            mandatory=True,
            deadline=deadline_in(5),
        )
        got = await listener.poll(5)
        assert got is not None and got.body == b"y"
        await got.ack()
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_notifications_wait_in_the_default_queue_and_each_pool_gets_a_copy(
    rabbit: DriverEnv,
) -> None:
    topic = rabbit.unique()
    address = Target(exchange=rabbit.exchange, topic=f"{topic}.info")

    async def main() -> None:
        driver = make_driver(rabbit)
        await driver.send_notification(address, b"early")  # before any listener
        plain = await driver.listen_for_notifications([address], None)
        got = await plain.poll(5)
        assert got is not None and got.body == b"early"
        await got.ack()
        pool_a = await driver.listen_for_notifications([address], rabbit.unique("pool"))
        pool_b = await driver.listen_for_notifications([address], rabbit.unique("pool"))
        await driver.send_notification(address, b"later")
        for listener in (plain, pool_a, pool_b):
            copy = await listener.poll(5)
            assert copy is not None and copy.body == b"later"
            await copy.ack()
        for listener in (plain, pool_a, pool_b):
            await listener.cleanup()
        await driver.aclose()

    run(main())


def test_poll_times_out_stop_wakes_every_poller_and_cancelled_poll_loses_nothing(
    rabbit: DriverEnv,
) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit)
        listener = await driver.listen(server_target(rabbit, topic))
        started = time.monotonic()
        assert await listener.poll(0.2) is None
        assert time.monotonic() - started < 1.0
        # A poll cancelled while waiting: the message sent then reaches the next poll.
        waiting = asyncio.ensure_future(listener.poll(10))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await driver.send(Target(exchange=rabbit.exchange, topic=topic), b"kept")
        got = await listener.poll(5)
        assert got is not None and got.body == b"kept"
        await got.ack()
        pollers = [asyncio.ensure_future(listener.poll(30)) for _ in range(3)]
        await asyncio.sleep(0.05)
        await listener.stop()
        assert await asyncio.wait_for(asyncio.gather(*pollers), 2) == [None, None, None]
        assert await listener.poll(1) is None
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_prefetch_window_bounds_what_a_listener_holds(rabbit: DriverEnv) -> None:
    """Twice executor_thread_pool_size unacknowledged messages per queue, as the sync driver
    (rabbit_qos_prefetch_count = 0); the rest of the backlog stays on the broker."""
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, executor_thread_pool_size=3)
        target = Target(exchange=rabbit.exchange, topic=topic)
        listener = await driver.listen(server_target(rabbit, topic))
        for i in range(20):
            await driver.send(target, str(i).encode())
        held = [await listener.poll(5) for _ in range(6)]
        assert all(h is not None for h in held)
        assert await listener.poll(0.5) is None  # the window (6) is full
        queues = await asyncio.to_thread(
            rabbitmqctl, "list_queues", "name", "messages_ready", "messages_unacknowledged"
        )
        row = next(q for q in queues if q["name"] == topic)
        assert row["messages_unacknowledged"] == 6 and row["messages_ready"] == 14
        for h in held:
            assert h is not None
            await h.ack()
        nxt = await listener.poll(5)
        assert nxt is not None
        await nxt.ack()
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_a_call_to_a_refused_port_ends_by_its_deadline(rabbit: DriverEnv) -> None:
    async def main() -> None:
        driver = make_driver(rabbit, url="rabbit://guest:guest@127.0.0.1:1/")
        started = time.monotonic()
        with pytest.raises(MessagingTimeout):
            await driver.send(
                Target(exchange=rabbit.exchange, topic="t"),
                b"x",
                expiration=1.0,
                deadline=deadline_in(1.0),
            )
        assert time.monotonic() - started < 1.5
        await driver.aclose()

    run(main())


def test_a_cast_with_retry_gives_up_after_its_attempts(rabbit: DriverEnv) -> None:
    async def main() -> None:
        driver = make_driver(
            rabbit, url="rabbit://guest:guest@127.0.0.1:1/", rabbit_retry_interval=1
        )
        started = time.monotonic()
        with pytest.raises(TransportDriverError):
            await driver.send(Target(exchange=rabbit.exchange, topic="t"), b"x", retry=1)
        elapsed = time.monotonic() - started
        assert 0.9 < elapsed < 3.0  # two attempts, one backoff of 1 s between them
        with pytest.raises(TransportDriverError):
            await driver.send(Target(exchange=rabbit.exchange, topic="t"), b"x", retry=0)
        await driver.aclose()

    run(main())


def test_failover_skips_a_dead_host(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    url = "rabbit://guest:guest@127.0.0.1:1,guest:guest@127.0.0.1:5672/"

    async def main() -> None:
        driver = make_driver(rabbit, url=url)
        listener = await driver.listen(server_target(rabbit, topic))
        await driver.send(Target(exchange=rabbit.exchange, topic=topic), b"x", retry=0)
        got = await listener.poll(5)
        assert got is not None and got.body == b"x"
        await got.ack()
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_bodies_are_compressed_as_kombu_does(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        sender = make_driver(rabbit, kombu_compression="gzip")
        receiver = make_driver(rabbit)
        listener = await receiver.listen(server_target(rabbit, topic))
        body = b'{"x": "' + b"a" * 1000 + b'"}'
        await sender.send(Target(exchange=rabbit.exchange, topic=topic), body)
        got = await listener.poll(5)
        assert got is not None and got.body == body  # decompressed by its header
        await got.ack()
        await listener.cleanup()
        await sender.aclose()
        await receiver.aclose()

    run(main())


def test_non_bytes_bodies_are_refused(rabbit: DriverEnv) -> None:
    async def main() -> None:
        driver = make_driver(rabbit)
        with pytest.raises(TypeError):
            await driver.send(Target(exchange=rabbit.exchange, topic="t"), "text")  # type: ignore[arg-type]
        await driver.aclose()

    run(main())


def test_a_declaration_the_broker_refuses_is_a_transport_error(rabbit: DriverEnv) -> None:
    """A topic queue declared durable by another process and here transient: RabbitMQ's
    PRECONDITION_FAILED becomes TransportDriverError, for listeners and notifications."""
    topic = rabbit.unique()

    async def main() -> None:
        durable = make_driver(rabbit, amqp_durable_queues=True)
        transient = make_driver(rabbit)
        listener = await durable.listen(server_target(rabbit, topic))
        with pytest.raises(TransportDriverError, match="PRECONDITION_FAILED"):
            await transient.listen(server_target(rabbit, topic))
        address = Target(exchange=rabbit.exchange, topic=topic)
        with pytest.raises(TransportDriverError, match="PRECONDITION_FAILED"):
            await transient.send_notification(address, b"n")
        listener2 = await durable.listen(server_target(rabbit, topic, "s2"))
        await transient.send_reply("reply_gone", b"still usable")  # the driver goes on
        await listener.cleanup()
        await listener2.cleanup()
        await durable.aclose()
        await transient.aclose()

    run(main())
