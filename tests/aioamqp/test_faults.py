"""The asyncio RabbitMQ driver when the link or the broker misbehaves: cut and stalled
connections (``tests/faults/proxy.py``), consumers cancelled by RabbitMQ, brokers that never
answer or answer slowly, and cancelled coroutines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from rpcmsg.driver.base import DEADLINE_SLACK
from rpcmsg.exceptions import MessagingTimeout, TransportDriverError
from rpcmsg.target import Target
from tests.aioamqp.conftest import deadline_in, make_driver, run
from tests.aioamqp.peers import SeamClient, seam_server
from tests.amqp import admin
from tests.drivers import DriverEnv
from tests.faults.proxy import FaultProxy
from tests.helpers.brokers import silent_broker, slow_broker

pytestmark = pytest.mark.amqp

FAST = {"kombu_reconnect_delay": 0.1, "rabbit_retry_interval": 1}


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(5672) as p:
        yield p


def test_listener_reply_consumer_and_publisher_come_back_after_the_link_is_cut(
    rabbit: DriverEnv, proxy: FaultProxy
) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        server = make_driver(rabbit, url=proxy.url(rabbit.url), **FAST)
        client_driver = make_driver(rabbit, url=proxy.url(rabbit.url), **FAST)
        async with seam_server(server, rabbit.exchange, topic, "s1"):
            client = SeamClient(client_driver, rabbit.exchange)
            assert await client.call(topic, "echo", value=1) == 1
            assert proxy.drop("both") >= 3  # listener, reply consumer, publishers
            # Everything reconnects by itself: the listener and the reply consumer consume
            # again, the publishers open new connections.
            async with asyncio.timeout(20):
                while True:
                    try:
                        assert await client.call(topic, "echo", timeout=2, value=2) == 2
                        break
                    except (MessagingTimeout, TimeoutError):
                        continue
            await client.close()
        await server.aclose()
        await client_driver.aclose()

    run(main())


def test_a_listener_consumes_again_when_rabbitmq_cancels_its_consumer(
    rabbit: DriverEnv,
) -> None:
    """Deleting a queue under its consumer makes RabbitMQ send basic.cancel (a consumer
    cancel notification): the listener declares its queues again and goes on."""
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, **FAST)
        listener = await driver.listen(Target(exchange=rabbit.exchange, topic=topic, server="s"))
        await asyncio.to_thread(_delete_queue, f"{topic}.s")
        target = Target(exchange=rabbit.exchange, topic=topic, server="s")
        async with asyncio.timeout(15):
            got = None
            while got is None:
                await driver.send(target, b"after-cancel")
                got = await listener.poll(1)
        assert got.body == b"after-cancel"
        await got.ack()
        await listener.cleanup()
        await driver.aclose()

    run(main())


def _delete_queue(name: str) -> None:
    with admin.channel() as channel:
        channel.queue_delete(name)


def test_calls_end_by_their_deadline_on_a_broker_that_never_answers(rabbit: DriverEnv) -> None:
    async def main(port: int) -> None:
        driver = make_driver(rabbit, url=f"rabbit://guest:guest@127.0.0.1:{port}/")
        for timeout in (0.5, 1.5):
            started = time.monotonic()
            with pytest.raises(MessagingTimeout):
                await driver.send(
                    Target(exchange=rabbit.exchange, topic="t"),
                    b"x",
                    expiration=timeout,
                    deadline=deadline_in(timeout),
                )
            assert time.monotonic() - started < timeout + DEADLINE_SLACK
        # The reply consumer opens by the deadline too (and keeps trying in the background).
        started = time.monotonic()
        consumer = await driver.open_reply_consumer(lambda b, c: None, deadline_in(0.5))
        assert time.monotonic() - started < 0.5 + DEADLINE_SLACK
        await consumer.close()
        await driver.aclose()

    with silent_broker() as port:
        run(main(port))


def test_calls_through_a_slow_broker_end_by_their_deadline(rabbit: DriverEnv) -> None:
    async def main(port: int) -> None:
        driver = make_driver(rabbit, url=f"rabbit://guest:guest@127.0.0.1:{port}/")
        started = time.monotonic()
        try:
            await driver.send(
                Target(exchange=rabbit.exchange, topic="t"),
                b"x",
                expiration=1.0,
                deadline=deadline_in(1.0),
            )
        except MessagingTimeout:
            pass
        assert time.monotonic() - started < 1.0 + DEADLINE_SLACK
        await driver.aclose()

    with slow_broker(5672, 0.3) as port:
        run(main(port))


def test_a_cast_without_deadline_on_a_stalled_link_ends_within_its_retries(
    rabbit: DriverEnv, proxy: FaultProxy
) -> None:
    """A cast has no deadline: each attempt ends once the broker was silent for
    heartbeat_timeout_threshold seconds, and retry=0 allows one."""
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, url=proxy.url(rabbit.url), heartbeat_timeout_threshold=2)
        target = Target(exchange=rabbit.exchange, topic=topic)
        await driver.send(target, b"before", retry=0)
        proxy.stall()
        started = time.monotonic()
        with pytest.raises(TransportDriverError):
            await driver.send(target, b"stalled", retry=0)
        assert time.monotonic() - started < 2 + 5 + DEADLINE_SLACK
        proxy.heal()
        await driver.send(target, b"after", retry=2)  # a new connection
        await driver.aclose()

    run(main())


def test_a_cancelled_send_leaves_the_driver_usable(rabbit: DriverEnv, proxy: FaultProxy) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, url=proxy.url(rabbit.url), **FAST)
        target = Target(exchange=rabbit.exchange, topic=topic)
        listener = await driver.listen(Target(exchange=rabbit.exchange, topic=topic, server="s"))
        await driver.send(target, b"first")
        proxy.slow(latency=0.5)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # cancelled while it waits for the confirm
                await driver.send(target, b"maybe")
        task = asyncio.ensure_future(driver.send(target, b"maybe-too"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        proxy.heal()
        await driver.send(target, b"last")
        bodies = []
        async with asyncio.timeout(15):
            while b"last" not in bodies:
                got = await listener.poll(5)
                assert got is not None
                bodies.append(got.body)
                await got.ack()
        assert bodies[0] == b"first" and set(bodies) <= {b"first", b"maybe", b"maybe-too", b"last"}
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_a_listener_on_a_half_open_link_reconnects_by_heartbeats(
    rabbit: DriverEnv, proxy: FaultProxy
) -> None:
    """The broker's side of the link is gone, ours stays open and silent: only missed
    heartbeats (heartbeat_timeout_threshold) tell the listener to connect again."""
    topic = rabbit.unique()

    async def main() -> None:
        listener_driver = make_driver(
            rabbit, url=proxy.url(rabbit.url), heartbeat_timeout_threshold=2, **FAST
        )
        sender = make_driver(rabbit)
        target = Target(exchange=rabbit.exchange, topic=topic, server="s")
        listener = await listener_driver.listen(target)
        assert proxy.drop("broker") >= 1
        started = time.monotonic()
        got = None
        async with asyncio.timeout(20):
            while got is None:
                await sender.send(target, b"after")
                got = await listener.poll(0.5)
        assert got.body == b"after"
        assert time.monotonic() - started > 1.0  # not before the heartbeats were missed
        await got.ack()
        await listener.cleanup()
        await listener_driver.aclose()
        await sender.aclose()

    run(main())


def test_a_cast_whose_confirm_never_comes_is_published_again(
    rabbit: DriverEnv, proxy: FaultProxy
) -> None:
    """Half-open publishing link: the first attempt gets no confirm, ends after the stall
    bound (heartbeat_timeout_threshold) and the cast goes out again on a new connection."""
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, url=proxy.url(rabbit.url), heartbeat_timeout_threshold=2)
        receiver = make_driver(rabbit)
        target = Target(exchange=rabbit.exchange, topic=topic)
        listener = await receiver.listen(Target(exchange=rabbit.exchange, topic=topic, server="s"))
        await driver.send(target, b"first")
        assert proxy.drop("broker") >= 1
        await driver.send(target, b"again", retry=2)
        bodies = set()
        async with asyncio.timeout(10):
            while b"again" not in bodies:
                got = await listener.poll(5)
                assert got is not None
                bodies.add(got.body)
                await got.ack()
        await listener.cleanup()
        await driver.aclose()
        await receiver.aclose()

    run(main())


def test_a_stream_fanout_listener_resumes_after_the_last_message_it_got(
    rabbit: DriverEnv, proxy: FaultProxy
) -> None:
    topic = rabbit.unique()
    options = {
        "rabbit_stream_fanout": True,
        "rabbit_transient_quorum_queue": True,
        "rabbit_qos_prefetch_count": 10,
    }

    async def main() -> None:
        listening = make_driver(rabbit, url=proxy.url(rabbit.url), **options, **FAST)
        sender = make_driver(rabbit, **options)
        fanout = Target(exchange=rabbit.exchange, topic=topic, fanout=True)
        listener = await listening.listen(Target(exchange=rabbit.exchange, topic=topic, server="s"))
        await sender.send(fanout, b"one")
        got = await listener.poll(10)
        assert got is not None and got.body == b"one"
        await got.ack()
        proxy.drop("both")
        for body in (b"two", b"three"):  # while the listener is away
            await sender.send(fanout, body)
        for expected in (b"two", b"three"):  # not "one" again, and none lost
            got = await listener.poll(15)
            assert got is not None and got.body == expected
            await got.ack()
        assert await listener.poll(1) is None
        await listener.cleanup()
        await listening.aclose()
        await sender.aclose()

    run(main())


def test_a_reply_to_a_missing_queue_is_sent_again_until_the_queue_is_back(
    rabbit: DriverEnv,
) -> None:
    """direct_mandatory_flag: the broker returns the reply; the driver sends it again every
    0.25 s, and a reply queue declared meanwhile (its caller reconnecting) gets it."""
    address = rabbit.unique("reply")

    async def main() -> None:
        driver = make_driver(rabbit)
        await driver.send_reply(address, b"late reply")  # no such queue yet
        await asyncio.sleep(0.5)
        with admin.channel() as channel:
            channel.queue_declare(address, auto_delete=False)
            deadline = time.monotonic() + 5
            message = None
            while message is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                message = channel.basic_get(address, no_ack=True)
            channel.queue_delete(address)
        assert message is not None and message.body in (b"late reply", "late reply")
        await driver.aclose()

    run(main())


def test_unsupported_login_methods_are_refused_when_the_transport_is_made(
    rabbit: DriverEnv,
) -> None:
    with pytest.raises(ValueError, match="RABBIT-CR-DEMO"):
        make_driver(rabbit, rabbit_login_method="RABBIT-CR-DEMO")
    make_driver(rabbit, rabbit_login_method="AMQPLAIN")  # logs in with PLAIN
