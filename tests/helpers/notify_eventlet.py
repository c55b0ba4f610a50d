"""Notification listeners on the eventlet executor in a monkey-patched process; prints a
JSON verdict on its last line. Used by tests/unit/test_notify_eventlet.py."""

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from oslo_config import cfg  # noqa: E402

import rpcmsg  # noqa: E402


class Overlapping:
    """Handlers that nap (green): several in flight at once means the executor is green."""

    def __init__(self, expected: int) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.seen: list[int] = []
        self.done = threading.Event()
        self.expected = expected

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.2)
        with self.lock:
            self.active -= 1
            self.seen.append(payload)
            if len(self.seen) == self.expected:
                self.done.set()


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.done = threading.Event()

    def info(self, messages):
        self.batches.append([m["payload"] for m in messages])
        if sum(map(len, self.batches)) >= 5:
            self.done.set()


class AlwaysRequeue:
    """A batch endpoint that asks for its messages again and again."""

    def __init__(self) -> None:
        self.calls = 0
        self.seen = threading.Event()

    def info(self, messages):
        self.calls += 1
        if self.calls >= 3:
            self.seen.set()
        return rpcmsg.NotificationResult.REQUEUE


def requeue_loop_stops(transport, notifier) -> bool:
    """A requeued message comes straight back from the fake broker without I/O: the other
    green threads (this one, calling stop()) must still get to run."""
    endpoint = AlwaysRequeue()
    server = rpcmsg.get_batch_notification_listener(
        transport, [rpcmsg.Target(topic="gr")], [endpoint], executor="eventlet",
        allow_requeue=True, batch_size=1,
    )  # fmt: skip
    server.start()
    notifier.info({}, "green.requeue", 0)
    seen = endpoint.seen.wait(20)
    server.stop()
    server.wait()
    return seen


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "fake:///notify-eventlet"
    conf = cfg.ConfigOpts()
    conf([])
    transport = rpcmsg.get_notification_transport(conf, url)
    notifier = rpcmsg.Notifier(transport, "green", driver="messagingv2", topics=["g", "gb"])
    requeue_stopped = requeue_loop_stops(
        transport, rpcmsg.Notifier(transport, "green", driver="messagingv2", topics=["gr"])
    )
    single = Overlapping(5)
    listener = rpcmsg.get_notification_listener(
        transport, [rpcmsg.Target(topic="g")], [single], executor="eventlet"
    )
    batches = Batches()
    batch_listener = rpcmsg.get_batch_notification_listener(
        transport, [rpcmsg.Target(topic="gb")], [batches], executor="eventlet",
        batch_size=10, batch_timeout=0.2,
    )  # fmt: skip
    listener.start()
    batch_listener.start()
    for i in range(5):
        notifier.info({}, "green.event", i)
    got_all = single.done.wait(20)
    got_batches = batches.done.wait(20)
    for server in (listener, batch_listener):
        server.stop()
        server.wait()
    transport.cleanup()
    verdict = {
        "received": sorted(single.seen),
        "most_at_once": single.most,
        "all": got_all,
        "batched": sorted(p for b in batches.batches for p in b),
        "batches_done": got_batches,
        "requeue_loop_stopped": requeue_stopped,
    }
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
