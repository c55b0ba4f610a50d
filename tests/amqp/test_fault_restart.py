"""RabbitMQ stopped and started again (``rabbitmqctl stop_app`` / ``start_app``) in the
middle of streams of calls, casts and notifications, with ``amqp_durable_queues``.

Disruptive: every connection to the shared broker drops while it is stopped, so this module
is in the fault suite (``-m faults``, run by CI after the default suite) and marked slow.
Asserted as everywhere in the fault suite (``tests.faults.failover.check``): traffic flows
again by itself, no call overruns its deadline or gets another's reply, no sender hangs, and
no cast or notification accepted is lost. The figures go to ``tests.faults.figures``
(``python -m tests.faults.report`` prints them).
"""

from __future__ import annotations

import time

import pytest

import rpcmsg
from tests.amqp import admin
from tests.drivers import DriverEnv
from tests.faults import figures
from tests.faults.failover import check, through_fault
from tests.faults.workload import Sink

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.skipif(admin.RABBITMQCTL is None, reason="rabbitmqctl not found"),
]

TIMEOUT = 2.0  # each call's timeout
RECOVERY = 60.0  # seconds for traffic to flow again after the broker is back
DRAIN = 30.0


def _restart() -> None:
    try:
        admin.rabbitmqctl("stop_app", timeout=60)
        time.sleep(0.5)  # let both sides notice the broker is gone
    finally:
        admin.rabbitmqctl("start_app", timeout=60)


def test_a_broker_restart_mid_stream_loses_nothing(rabbit: DriverEnv) -> None:
    env = rabbit
    env.url = f"{env.url}?amqp_durable_queues=true&rabbit_retry_interval=1&rabbit_retry_backoff=0"
    sink = Sink()
    topic, notify_topic = env.unique(), env.unique("notify")
    try:
        env.server(topic, [sink])
        listener = rpcmsg.get_notification_listener(
            env.notification_transport(), [rpcmsg.Target(topic=notify_topic)], [sink]
        )
        listener.start()
        env.track(listener)
        client = env.client(topic, timeout=TIMEOUT)
        notifier = rpcmsg.Notifier(
            env.notification_transport(),
            publisher_id="faults",
            driver="messagingv2",
            topics=[notify_topic],
            raise_on_failure=True,
        )
        outcome = through_fault(client, notifier, sink, TIMEOUT, _restart, RECOVERY, DRAIN)
        figures.record("restart", "rabbit", "stop_app-start_app", outcome.figures())
        check(outcome, RECOVERY, lossless=True)
    finally:
        env.close()
        admin.purge([topic, notify_topic], [env.exchange])
