"""Notifications: an emitter, a filtered listener and a pool of two listeners.

* ``watcher`` listens alone (no pool) and keeps only ``instance.*`` events
  (a :class:`~rpcmsg.NotificationFilter` on its endpoint);
* ``billing-1`` and ``billing-2`` form the pool ``<topic>-billing``: the pool gets one copy
  of every notification, shared between its members (each message goes to one of them);
* the emitter publishes six notifications with a :class:`~rpcmsg.Notifier`.

    python samples/notifications.py [--url URL]
"""

from __future__ import annotations

import argparse
import threading
import uuid
from typing import Any

from oslo_config import cfg

import rpcmsg

EVENTS = [
    ("instance.create.start", {"id": "vm-1"}),
    ("volume.attach", {"id": "vol-1"}),
    ("instance.create.end", {"id": "vm-1"}),
    ("instance.delete.start", {"id": "vm-2"}),
    ("volume.detach", {"id": "vol-1"}),
    ("instance.delete.end", {"id": "vm-2"}),
]


class Counter:
    """An endpoint for ``info`` notifications that remembers what it was given."""

    def __init__(self, name: str, expected: int, shared: Counter | None = None) -> None:
        self.name = name
        self.events: list[str] = []
        self._shared = shared  # pool members also count into their pool's total
        self._expected = expected
        self._lock = threading.Lock()
        self.complete = threading.Event()

    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, md: Any) -> None:
        with self._lock:
            self.events.append(event_type)
            if len(self.events) >= self._expected:
                self.complete.set()
        if self._shared is not None:
            self._shared.info(ctxt, publisher_id, event_type, payload, md)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="fake://", help="transport URL (default: fake://)")
    parser.add_argument("--exchange", help="control_exchange (default: openstack)")
    parser.add_argument("--topic", help="topic to use (default: a fresh one)")
    args = parser.parse_args(argv)

    if args.exchange:  # as a service sets its default exchange, before parsing its config
        rpcmsg.set_transport_defaults(control_exchange=args.exchange)
    conf = cfg.ConfigOpts()
    conf([], project="notifications")
    topic = args.topic or f"notifications-{uuid.uuid4().hex[:8]}"
    transport = rpcmsg.get_notification_transport(conf, url=args.url)
    targets = [rpcmsg.Target(topic=topic)]

    pool = f"{topic}-billing"  # pool names are broker-wide: RabbitMQ names a queue after it
    watcher = Counter("watcher", expected=4)
    watcher.filter_rule = rpcmsg.NotificationFilter(event_type=r"^instance\.")  # type: ignore[attr-defined]
    billing = Counter("billing", expected=len(EVENTS))
    members = [Counter(f"billing-{i}", expected=len(EVENTS), shared=billing) for i in (1, 2)]

    listeners = [rpcmsg.get_notification_listener(transport, targets, [watcher])]
    listeners += [
        rpcmsg.get_notification_listener(transport, targets, [m], pool=pool) for m in members
    ]
    for listener in listeners:
        listener.start()  # subscribed once start() returns: a pool gets what follows
    try:
        notifier = rpcmsg.Notifier(
            transport, publisher_id="compute.host1", driver="messagingv2", topics=[topic]
        )
        for event_type, payload in EVENTS:
            notifier.info({}, event_type, payload)
        print(f"emitter sent {len(EVENTS)} notifications to {topic}.info")

        if not (watcher.complete.wait(10) and billing.complete.wait(10)):
            print(f"missing notifications: watcher {watcher.events}, billing {billing.events}")
            return 1
        print(f"watcher (filter ^instance\\.) got {len(watcher.events)}: {watcher.events}")
        shares = ", ".join(f"{m.name} {len(m.events)}" for m in members)
        print(f"pool {pool!r} got all {len(billing.events)} between its members: {shares}")
        return 0
    finally:
        for listener in listeners:
            listener.stop()
        for listener in listeners:
            listener.wait()
        transport.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
