"""``rpcmsg.asyncio`` on RabbitMQ through the public API, and on the wire with sync rpcmsg and
oslo.messaging 18.3.1: each caller gets from the other side's server exactly what it gets
from its own (``tests.amqp.test_interop.expected_outcomes``, a baseline of oslo against
itself)."""

from __future__ import annotations

import asyncio
import configparser
from typing import Any

import pytest

import rpcmsg
import rpcmsg.asyncio as aio
from tests.aioamqp.conftest import run
from tests.amqp.test_interop import ALLOWED, WAIT, Echo, expected_outcomes, rpcmsg_outcomes
from tests.drivers import DriverEnv

pytestmark = pytest.mark.amqp


class AsyncEcho(Echo):
    """The interop endpoint with ``async def`` methods where it waits."""

    async def sleep(self, ctxt: Any, seconds: float) -> str:  # type: ignore[override]
        await asyncio.sleep(seconds)
        return "slept"


async def outcome(call: Any) -> list[Any]:
    """The async twin of ``tests.amqp.test_interop.outcome``."""
    try:
        return ["ok", await call()]
    except rpcmsg.RemoteError as exc:
        return ["RemoteError", exc.exc_type, str(exc.value).splitlines()[0]]
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        return [type(exc).__name__, isinstance(exc, configparser.Error), first]


async def async_outcomes(transport: aio.AsyncTransport, topic: str) -> dict[str, list[Any]]:
    target = rpcmsg.Target(topic=topic)
    client = aio.get_rpc_client(transport, target, timeout=WAIT)
    capped = aio.get_rpc_client(transport, target, timeout=WAIT, version_cap="1.5")
    return {
        "fail_allowed": await outcome(lambda: client.call({}, "fail_allowed")),
        "fail_private": await outcome(lambda: client.call({}, "fail_private")),
        "nomethod": await outcome(lambda: client.call({}, "nope")),
        "v12": await outcome(lambda: client.prepare(version="1.2").call({}, "echo", value=12)),
        "v20": await outcome(lambda: client.prepare(version="2.0").call({}, "echo", value=20)),
        "cap_can_send": [
            capped.can_send_version(),
            capped.can_send_version("1.2"),
            capped.can_send_version("1.6"),
        ],
        "cap_v12": await outcome(
            lambda: capped.prepare(version="1.2").call({}, "echo", value="capped")
        ),
        "cap_v16": await outcome(lambda: capped.prepare(version="1.6").call({}, "echo", value=0)),
        "cap_cast_unversioned": await outcome(lambda: capped.cast({}, "record", value="no")),
    }


def transport(rabbit: DriverEnv, url: str | None = None) -> aio.AsyncTransport:
    return aio.get_rpc_transport(rabbit.conf(), url or rabbit.url, allowed_remote_exmods=ALLOWED)


async def serve(
    rabbit: DriverEnv, topic: str, endpoint: Any, url: str | None = None
) -> tuple[aio.RPCServer, aio.AsyncTransport]:
    t = transport(rabbit, url)
    server = aio.get_rpc_server(t, rpcmsg.Target(topic=topic, server="async"), [endpoint])
    await server.start()
    return server, t


async def shutdown(server: aio.RPCServer, *transports: aio.AsyncTransport) -> None:
    await server.stop()
    await server.wait()
    for t in transports:
        await t.cleanup()


def test_async_client_and_server(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        endpoint = AsyncEcho()
        server, st = await serve(rabbit, topic, endpoint)
        ct = transport(rabbit)
        client = aio.get_rpc_client(ct, rpcmsg.Target(topic=topic), timeout=WAIT)
        results = await asyncio.gather(*(client.call({}, "echo", value=i) for i in range(200)))
        assert results == list(range(200))
        with pytest.raises(ValueError, match="rpcmsg says no"):
            await client.call({}, "fail")
        monitored = client.prepare(call_monitor_timeout=1)
        assert await monitored.call({}, "sleep", seconds=1.6) == "slept"  # keep-alives
        await client.cast({}, "record", value="cast")
        await client.prepare(fanout=True).cast({}, "record", value="fanout")
        assert sorted(await asyncio.to_thread(endpoint.wait_for, 2)) == ["cast", "fanout"]
        with pytest.raises(rpcmsg.MessagingTimeout):
            await client.prepare(server="nobody", timeout=0.5).call({}, "echo", value=0)
        assert await async_outcomes(ct, topic) == expected_outcomes("rpcmsg")
        await shutdown(server, st, ct)

    run(main(), timeout=90)


def test_async_client_to_sync_server_and_sync_client_to_async_server(rabbit: DriverEnv) -> None:
    sync_topic, async_topic = rabbit.unique(), rabbit.unique()
    sync_endpoint = Echo()
    rabbit.server(sync_topic, [sync_endpoint], server="rpcmsg")
    sync_transport = rpcmsg.get_rpc_transport(
        rabbit.conf(), rabbit.url, allowed_remote_exmods=ALLOWED
    )
    rabbit._transports.append(sync_transport)

    async def main() -> None:
        ct = transport(rabbit)
        client = aio.get_rpc_client(ct, rpcmsg.Target(topic=sync_topic), timeout=WAIT)
        assert await client.call({"user": "bob"}, "context") == {"user": "bob"}
        assert await client.prepare(call_monitor_timeout=1).call({}, "sleep", seconds=1.6) == (
            "slept"
        )
        await client.prepare(fanout=True).cast({}, "record", value="fanout")
        assert await asyncio.to_thread(sync_endpoint.wait_for, 1) == ["fanout"]
        assert await async_outcomes(ct, sync_topic) == expected_outcomes("rpcmsg")
        endpoint = Echo()  # plain methods: run in the async server's thread pool
        server, st = await serve(rabbit, async_topic, endpoint)
        sync_client = rabbit.client(async_topic, timeout=WAIT, transport=sync_transport)
        assert await asyncio.to_thread(sync_client.call, {}, "echo", value=[1]) == [1]
        assert await asyncio.to_thread(rpcmsg_outcomes, sync_transport, async_topic) == (
            expected_outcomes("rpcmsg")
        )
        await shutdown(server, st, ct)

    run(main(), timeout=120)


def test_oslo_client_to_async_server(rabbit: DriverEnv, oslo_peer: Any) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        endpoint = AsyncEcho()
        server, st = await serve(rabbit, topic, endpoint)
        peer = oslo_peer("client", rabbit.url, rabbit.exchange, topic)
        result = await asyncio.to_thread(peer.next, 60)
        assert {k: result[k] for k in expected_outcomes("rpcmsg")} == expected_outcomes("rpcmsg")
        assert result["echo"] == {"a": [1, "x"]}
        assert result["context"] == {"user": "bob"}
        assert result["fail"] == ["ValueError", "rpcmsg says no"]
        assert result["monitored"] == "slept"  # the async server's keep-alives
        assert sorted(await asyncio.to_thread(endpoint.wait_for, 2), key=str) == [1, "fanout"]
        await shutdown(server, st)

    run(main(), timeout=90)


def test_async_client_to_oslo_server(rabbit: DriverEnv, oslo_peer: Any) -> None:
    topic = rabbit.unique()

    async def main() -> None:
        peer = oslo_peer("server", rabbit.url, rabbit.exchange, topic)
        assert await asyncio.to_thread(peer.next) == {"ready": True}
        ct = transport(rabbit)
        client = aio.get_rpc_client(ct, rpcmsg.Target(topic=topic), timeout=WAIT)
        assert await client.call({}, "echo", value={"b": [2]}) == {"b": [2]}
        with pytest.raises(ValueError, match="oslo says no"):
            await client.call({}, "fail")
        assert await client.prepare(call_monitor_timeout=2).call({}, "sleep", seconds=2.6) == (
            "slept"
        )
        await client.prepare(fanout=True).cast({}, "record", value="fanout")
        assert await asyncio.to_thread(peer.next) == {"record": "fanout"}
        assert await async_outcomes(ct, topic) == expected_outcomes("oslo")
        await ct.cleanup()

    run(main(), timeout=120)


def test_async_notifier_and_listener(rabbit: DriverEnv) -> None:
    topic = rabbit.unique("notifications")

    class Endpoint:
        def __init__(self) -> None:
            self.seen: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

        async def info(
            self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any
        ) -> None:
            self.seen.put_nowait((publisher_id, event_type, payload))

    async def main() -> None:
        t = aio.get_notification_transport(rabbit.conf(), rabbit.url)
        endpoint = Endpoint()
        listener = aio.get_notification_listener(t, [rpcmsg.Target(topic=topic)], [endpoint])
        await listener.start()
        notifier = aio.Notifier(t, driver="messagingv2", publisher_id="aio", topics=[topic])
        await notifier.info({}, "aio.event", {"n": 1})
        assert await asyncio.wait_for(endpoint.seen.get(), 15) == ("aio", "aio.event", {"n": 1})
        await listener.stop()
        await listener.wait()
        await t.cleanup()

    run(main())
