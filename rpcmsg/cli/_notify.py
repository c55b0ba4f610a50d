"""``rpcmsg notify`` and ``rpcmsg listen``."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from typing import Any, TextIO

from rpcmsg.cli._common import EXIT_OK, CLIError, Session, parse_json_object
from rpcmsg.notify.dispatcher import NotificationResult
from rpcmsg.target import Target

__all__ = ["PRIORITIES", "listen", "notify"]

#: Priorities in oslo.messaging's order; ``warning`` is accepted as ``warn``.
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


def _priority(name: str) -> str:
    priority = name.lower()
    if priority == "warning":
        priority = "warn"
    if priority not in PRIORITIES:
        raise CLIError(f"unknown priority {name!r}: use one of {', '.join(PRIORITIES)}")
    return priority


def notify(session: Session, args: argparse.Namespace) -> int:
    """Publish one notification with the ``messagingv2`` driver to ``TOPIC.PRIORITY``."""
    from rpcmsg.notify import Notifier
    from rpcmsg.notify._secrets import DictContext

    priority = _priority(args.priority)
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise CLIError(f"PAYLOAD_JSON is not valid JSON: {exc}") from exc
    ctxt = DictContext(parse_json_object(args.context, "--context") if args.context else {})
    notifier = Notifier(
        session.notification_transport(),
        publisher_id=args.publisher_id,
        driver="messagingv2",
        topics=[args.topic],
        retry=None if args.retry < 0 else args.retry,
        raise_on_failure=True,
    )
    getattr(notifier, priority)(ctxt, args.event_type, payload)
    return EXIT_OK


class _Tail:
    """A notification endpoint printing one line per notification it is given."""

    def __init__(
        self, priorities: list[str], as_json: bool, count: int | None, out: TextIO
    ) -> None:
        self._as_json = as_json
        self._left = count
        self._count = count
        self._out = out
        #: Called with (shown, count) after each line when ``--count`` is given and the lines
        #: go to a file or pipe while stderr is a terminal (else the lines are the progress).
        self.progress: Any = None
        self._lock = threading.Lock()
        self.done = threading.Event()
        for priority in priorities:
            setattr(self, priority, self._make_handler(priority))

    def _make_handler(self, priority: str) -> Any:
        def handler(
            ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any
        ) -> str | None:
            return self._show(priority, ctxt, publisher_id, event_type, payload, metadata)

        return handler

    def _show(
        self, priority: str, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
        metadata: Any,
    ) -> str | None:  # fmt: skip
        """Print one line; past ``--count``, give the message back for the next consumer."""
        meta = metadata if isinstance(metadata, dict) else {}
        if self._as_json:
            line = json.dumps(
                {
                    "priority": priority.upper(),
                    "event_type": event_type,
                    "publisher_id": publisher_id,
                    "timestamp": meta.get("timestamp"),
                    "message_id": meta.get("message_id"),
                    "payload": payload,
                    "context": ctxt,
                },
                default=repr,
                ensure_ascii=False,
            )
        else:
            shown = json.dumps(payload, default=repr, ensure_ascii=False)
            line = (
                f"{meta.get('timestamp', '-')} {priority.upper():<8} {event_type} "
                f"publisher={publisher_id} payload={shown}"
            )
        with self._lock:
            if self.done.is_set():
                return NotificationResult.REQUEUE
            print(line, file=self._out, flush=True)
            if self._left is not None and self._count is not None:
                self._left -= 1
                if self.progress is not None:
                    self.progress("notifications", self._count - self._left, self._count)
                if self._left <= 0:
                    self.done.set()
        return None


def listen(session: Session, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print notifications of ``TOPIC`` until interrupted (or ``--count`` of them).

    Without ``--pool`` the command is one more consumer of the topic's default queue: it takes
    its share of the notifications *from* the services listening there (and acknowledges the
    ones ``--event-type`` filters out). ``--pool NAME`` gets a copy of its own instead.
    """
    from rpcmsg.notify import NotificationFilter, get_notification_listener

    priorities = sorted({_priority(p) for p in args.priority or PRIORITIES}, key=PRIORITIES.index)
    out = out or sys.stdout
    tail = _Tail(priorities, args.json, args.count, out)
    progress = None
    if args.count is not None and sys.stderr.isatty() and not out.isatty():
        from rpcmsg.cli._bench import ProgressBar

        progress = tail.progress = ProgressBar("rpcmsg listen", sys.stderr)
    if args.event_type:
        try:
            re.compile(args.event_type)
        except re.error as exc:
            raise CLIError(f"--event-type {args.event_type!r} is not a valid regex: {exc}") from exc
        tail.filter_rule = NotificationFilter(event_type=args.event_type)  # type: ignore[attr-defined]
    listener = get_notification_listener(
        session.notification_transport(),
        [Target(topic=args.topic)],
        [tail],
        pool=args.pool,
        allow_requeue=True,
    )
    listener.start()
    exchange = session.conf.control_exchange
    shown = ", ".join(f"{args.topic}.{p}" for p in priorities)
    print(f"listening on {shown} (exchange {exchange}); Ctrl-C to stop", file=sys.stderr)
    try:
        # A timed wait keeps the main thread responsive to Ctrl-C on every platform.
        while not tail.done.wait(0.5):
            pass
    finally:
        listener.stop()
        listener.wait()
        if progress is not None:
            progress.finish()
    return EXIT_OK
