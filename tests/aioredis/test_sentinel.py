"""``redis+sentinel://`` with the asyncio driver against a Sentinel of the test's own
monitoring the local Redis (the sync driver's fixture)."""

from __future__ import annotations

import time

import pytest

from rpcmsg.exceptions import MessagingTimeout, TransportDriverError
from tests.aioredis.conftest import deadline_in, make_driver, run, target
from tests.redis.conftest import RedisEnv
from tests.redis.test_sentinel_live import sentinel

__all__ = ["sentinel"]  # the fixture, imported for use here

pytestmark = pytest.mark.redis


def test_casts_through_the_master_a_sentinel_names(
    renv: RedisEnv, sentinel: tuple[int, str]
) -> None:
    port, service = sentinel
    url = f"redis+sentinel://127.0.0.1:{port}/0?sentinel_service_name={service}"
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv, url=url)
        listener = await driver.listen(target(renv, topic, server="s"))
        await driver.send(target(renv, topic), b"via sentinel", mandatory=True)
        incoming = await listener.poll(5)
        assert incoming is not None and incoming.body == b"via sentinel"
        await incoming.ack()
        assert renv.keys(), "no keys under the test's prefix on the monitored Redis"
        await listener.cleanup()
        await driver.aclose()

    run(main())


def test_an_unknown_service_fails_within_the_deadline(
    renv: RedisEnv, sentinel: tuple[int, str]
) -> None:
    port, _ = sentinel
    url = f"redis+sentinel://127.0.0.1:{port}/0?sentinel_service_name=nosuchmaster"

    async def main() -> None:
        driver = make_driver(renv, url=url)
        started = time.monotonic()
        with pytest.raises((MessagingTimeout, TransportDriverError)):
            await driver.send(target(renv, "t"), b"x", expiration=2, deadline=deadline_in(2))
        assert time.monotonic() - started < 2.5
        with pytest.raises(TransportDriverError):
            await driver.send(target(renv, "t"), b"x", retry=0)
        await driver.aclose()

    run(main())
