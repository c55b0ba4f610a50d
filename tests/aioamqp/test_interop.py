"""The asyncio RabbitMQ driver on the wire with the sync driver and oslo.messaging 18.3.1.

Async processes here are the seam-level client and server of :mod:`tests.aioamqp.peers`
(the core's wire format over the async driver); the sync side is rpcmsg's public API;
oslo.messaging runs in its own process (``tests/interop/oslo_peer.py``). Each queue layout
set by ``[oslo_messaging_rabbit]`` options is served by the libraries together on one
topic, so that their declarations must agree (RabbitMQ refuses a queue declared again with
other arguments).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rpcmsg
from rpcmsg.notify import Notifier
from rpcmsg.target import Target
from tests.aioamqp.conftest import make_driver, run
from tests.aioamqp.peers import SeamClient, seam_server
from tests.amqp import admin
from tests.amqp.test_interop import STREAM, rpcmsg_server
from tests.drivers import DriverEnv

pytestmark = pytest.mark.amqp

LAYOUTS = {
    "default": "",
    "quorum": "rabbit_quorum_queue=true",
    "transient-quorum": "rabbit_transient_quorum_queue=true",
    "stream-fanout": STREAM,
}


def layout_url(rabbit: DriverEnv, layout: str) -> str:
    query = LAYOUTS[layout]
    return f"{rabbit.url}?{query}" if query else rabbit.url


async def wait_until(check: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_async_and_sync_servers_share_a_topic_and_call_each_other(
    rabbit: DriverEnv, layout: str
) -> None:
    url = layout_url(rabbit, layout)
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, url=url)
        async with seam_server(driver, rabbit.exchange, topic, "async") as records:
            # The sync server declares the same queues after the async one did.
            endpoint, transport = await asyncio.to_thread(rpcmsg_server, rabbit, url, topic)
            client = SeamClient(driver, rabbit.exchange)
            assert await client.call(topic, "echo", server="rpcmsg", value=[1, "x"]) == [1, "x"]
            assert await client.call(topic, "context", {"user": "bob"}, server="rpcmsg") == {
                "user": "bob"
            }
            assert await client.call(topic, "fail", server="rpcmsg") == (
                "failure",
                "ValueError",
                "rpcmsg says no",
            )
            assert await client.call(topic, "whoami", server="async") == "async"
            # A sync client calls the async server.
            sync_client = rabbit.client(topic, timeout=15, transport=transport)
            assert await asyncio.to_thread(
                sync_client.prepare(server="async").call, {}, "echo", value={"k": 1}
            ) == {"k": 1}
            with pytest.raises(ValueError, match="async says no"):
                await asyncio.to_thread(sync_client.prepare(server="async").call, {}, "fail")
            # Fanout casts from each side reach both servers.
            await client.cast(topic, "record", fanout=True, value="from-async")
            await asyncio.to_thread(
                sync_client.prepare(fanout=True).cast, {}, "record", value="from-sync"
            )
            assert sorted(await asyncio.to_thread(endpoint.wait_for, 2)) == [
                "from-async",
                "from-sync",
            ]
            await wait_until(lambda: len(records) >= 2)
            assert sorted(records) == ["from-async", "from-sync"]
            await client.close()
        await driver.aclose()

    run(main(), timeout=90)
    if layout == "stream-fanout":
        kinds = {q["name"]: q["type"] for q in admin.rabbitmqctl("list_queues", "name", "type")}
        assert kinds[f"{topic}_fanout"] == "stream"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_oslo_client_on_a_topic_shared_by_async_and_sync_servers(
    rabbit: DriverEnv, oslo_peer: Any, layout: str
) -> None:
    url = layout_url(rabbit, layout)
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, url=url)
        async with seam_server(driver, rabbit.exchange, topic, "async") as records:
            endpoint, _ = await asyncio.to_thread(rpcmsg_server, rabbit, url, topic)
            # oslo.messaging's client declares the shared queues a third time and calls the
            # topic: whichever server takes a call answers it as oslo expects.
            peer = oslo_peer("client", url, rabbit.exchange, topic)
            result = await asyncio.to_thread(peer.next, 60)
            assert result["echo"] == {"a": [1, "x"]}
            assert result["context"]["user"] == "bob"
            assert result["fail"] in (
                ["ValueError", "async says no"],
                ["ValueError", "rpcmsg says no"],
            )
            assert result["monitored"] == "slept"
            # Its fanout cast reaches both servers, its topic cast one of them.
            await wait_until(lambda: len(records) + len(endpoint.seen) >= 3)
            assert "fanout" in records
            assert "fanout" in endpoint.seen
            assert sorted(records + endpoint.seen, key=str) == [1, "fanout", "fanout"]
        await driver.aclose()

    run(main(), timeout=120)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_async_client_and_server_with_oslo_on_one_topic(
    rabbit: DriverEnv, oslo_peer: Any, layout: str
) -> None:
    url = layout_url(rabbit, layout)
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit, url=url)
        async with seam_server(driver, rabbit.exchange, topic, "async") as records:
            peer = oslo_peer("server", url, rabbit.exchange, topic)  # declares after us
            assert await asyncio.to_thread(peer.next) == {"ready": True}
            client = SeamClient(driver, rabbit.exchange)
            assert await client.call(topic, "echo", server="oslo", value="q") == "q"
            assert await client.call(topic, "fail", server="oslo") == (
                "failure",
                "ValueError",
                "oslo says no",
            )
            await client.cast(topic, "record", fanout=True, value="fanout")
            assert await asyncio.to_thread(peer.next) == {"record": "fanout"}
            await wait_until(lambda: records == ["fanout"])
            # Calls to the shared topic queue: the async server answers its share.
            names = {await client.call(topic, "whoami") for _ in range(6)}
            assert "async" in names
            await client.close()
        await driver.aclose()

    run(main(), timeout=120)


def test_oslo_client_calls_casts_and_fanouts_to_the_async_server(
    rabbit: DriverEnv, oslo_peer: Any
) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        driver = make_driver(rabbit)
        async with seam_server(driver, rabbit.exchange, topic, "async") as records:
            peer = oslo_peer("client", rabbit.url, rabbit.exchange, topic)
            result = await asyncio.to_thread(peer.next, 60)
            assert result["echo"] == {"a": [1, "x"]}
            assert result["context"]["user"] == "bob"
            assert result["fail"] == ["ValueError", "async says no"]
            assert result["monitored"] == "slept"
            await wait_until(lambda: len(records) >= 2)
            assert sorted(records, key=str) == [1, "fanout"]
        await driver.aclose()

    run(main(), timeout=90)


def test_notifications_between_async_sync_and_oslo(rabbit: DriverEnv, oslo_peer: Any) -> None:
    topic = rabbit.unique("notifications")
    address = Target(exchange=rabbit.exchange, topic=f"{topic}.info")

    async def main() -> None:
        driver = make_driver(rabbit)
        listener = await driver.listen_for_notifications([address], None)
        # oslo.messaging's notifier, then rpcmsg's sync one, reach the async listener.
        sent = oslo_peer("notify", rabbit.url, rabbit.exchange, topic)
        assert await asyncio.to_thread(sent.next) == {"sent": True}
        notifier = Notifier(
            rabbit.notification_transport(),
            driver="messagingv2",
            publisher_id="rpcmsg.sync",
            topics=[topic],
        )
        await asyncio.to_thread(notifier.info, {}, "sync.event", {"n": 2})
        seen = []
        for _ in range(2):
            incoming = await listener.poll(15)
            assert incoming is not None
            seen.append(rpcmsg._wire.decode(incoming.body))
            await incoming.ack()
        assert sorted((m["event_type"], m["payload"]) for m in seen) == [  # type: ignore[comparison-overlap]
            ("interop.event", {"n": 1}),
            ("sync.event", {"n": 2}),
        ]
        await listener.cleanup()
        # The async driver's notification reaches oslo.messaging's listener.
        peer = oslo_peer("listen", rabbit.url, rabbit.exchange, topic)
        assert await asyncio.to_thread(peer.next) == {"ready": True}
        body = rpcmsg._wire.encode(
            {
                "message_id": rpcmsg._wire.new_id(),
                "publisher_id": "rpcmsg.async",
                "event_type": "async.event",
                "priority": "INFO",
                "payload": {"n": 3},
                "timestamp": "2026-12-02 07:00:00.000000",
            }
        )
        await driver.send_notification(address, body)
        got = await asyncio.to_thread(peer.next)
        assert (got["event_type"], got["payload"], got["publisher_id"]) == (
            "async.event",
            {"n": 3},
            "rpcmsg.async",
        )
        await driver.aclose()

    run(main(), timeout=90)
