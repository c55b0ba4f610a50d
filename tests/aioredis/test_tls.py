"""``rediss://`` with the asyncio driver against a TLS Redis of the test's own (the sync
driver's fixture: client certificates required, the certificate names ``localhost``)."""

from __future__ import annotations

import pytest

from rpcmsg.exceptions import TransportDriverError
from tests.aioredis.conftest import make_driver, run, target
from tests.redis.conftest import RedisEnv
from tests.redis.test_tls_live import TLSRedis, tls_redis

__all__ = ["tls_redis"]  # the fixture, imported for use here

pytestmark = pytest.mark.redis


def test_casts_over_verified_tls_and_an_untrusted_server_refused(
    renv: RedisEnv, tls_redis: TLSRedis
) -> None:
    topic = renv.unique()

    async def main() -> None:
        driver = make_driver(renv, url=tls_redis.trusted_url())
        listener = await driver.listen(target(renv, topic, server="s"))
        await driver.send(target(renv, topic), b"secret", mandatory=True)
        incoming = await listener.poll(5)
        assert incoming is not None and incoming.body == b"secret"
        await incoming.ack()
        await listener.cleanup()
        await driver.aclose()
        # Without the authority that signed its certificate, the server is not trusted.
        untrusted = make_driver(
            renv,
            url=tls_redis.url(ssl_cert_file=tls_redis.cert, ssl_key_file=tls_redis.key),
        )
        with pytest.raises(TransportDriverError):
            await untrusted.send(target(renv, topic), b"x", retry=0)
        await untrusted.aclose()
        # 127.0.0.1 is not a name in its certificate.
        mismatch = make_driver(renv, url=tls_redis.trusted_url().replace("localhost", "127.0.0.1"))
        with pytest.raises(TransportDriverError):
            await mismatch.send(target(renv, topic), b"x", retry=0)
        await mismatch.aclose()

    run(main())
