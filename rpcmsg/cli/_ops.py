"""``rpcmsg describe``, ``status`` and ``serve``: look at running servers, or run one.

``describe`` calls one server's introspection endpoint (:mod:`rpcmsg._introspect`).
``status`` finds every server of a topic the same way on every driver: it starts a temporary
server of its own (topic ``rpcmsg-status-<run>`` in an exchange of its own,
``<control_exchange>-status-<run>``), sends one fanout cast of the introspection request
naming that topic as ``reply_to``, and collects the servers' answers (fanout casts to that
topic: a fanout queue or stream is temporary on every driver) for ``--wait`` seconds, or
until ``--count`` answered. Only servers with ``rpc_introspection_enabled`` answer. On
RabbitMQ the temporary server's queues and exchange are auto-deleted when it stops; on Redis
its two empty request streams stay under ``rpcmsg:<control_exchange>-status-<run>:``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from rpcmsg._introspect import INTROSPECT_METHOD
from rpcmsg._url import TransportURL
from rpcmsg.cli._common import EXIT_NO_ANSWER, EXIT_OK, EXIT_REMOTE, CLIError, Session
from rpcmsg.cli._objects import endpoints_from
from rpcmsg.opts import driver_opts, register_group
from rpcmsg.rpc.client import get_rpc_client
from rpcmsg.rpc.server import get_rpc_server
from rpcmsg.target import Target
from rpcmsg.transport import TransportOptions

__all__ = ["describe", "format_description", "introspect", "serve", "status"]


def _who(args: argparse.Namespace) -> str:
    return f"topic {args.topic!r}" + (f" server {args.server!r}" if args.server else "")


def _not_enabled(exc: BaseException) -> bool:
    # No endpoint in the default namespace at all is reported as an unsupported version.
    remote_type = getattr(exc, "exc_type", None) or type(exc).__name__
    return remote_type.removesuffix("_Remote") in ("NoSuchMethod", "UnsupportedVersion")


def introspect(session: Session, args: argparse.Namespace) -> dict[str, Any]:
    """The introspection answer of one server of ``args.topic`` (``args.server``: that one)."""
    client = get_rpc_client(
        session.rpc_transport(),
        Target(topic=args.topic, server=args.server),
        timeout=args.timeout,
        transport_options=TransportOptions(at_least_once=True),
    )
    try:
        answer: dict[str, Any] = client.call({}, INTROSPECT_METHOD)
    except Exception as exc:
        if _not_enabled(exc):
            raise CLIError(
                f"{_who(args)} is alive but does not answer introspection requests: "
                "set rpc_introspection_enabled = true in the server's configuration",
                EXIT_REMOTE,
            ) from exc
        raise
    return answer


def describe(session: Session, args: argparse.Namespace) -> int:
    """Print what one server of the topic (``--server``: that one) serves."""
    description = introspect(session, args)
    if args.json:
        print(json.dumps(description, indent=2, ensure_ascii=False))
    else:
        print(format_description(description))
    return EXIT_OK


def _uptime(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def format_description(d: dict[str, Any]) -> str:
    """An introspection answer as text for people."""
    ex, calls = d["executor"], d["calls"]
    lines = [
        f"server {d['server']!r} of topic {d['topic']!r} (exchange {d['exchange']!r}) "
        f"on {d['host']}, pid {d['pid']}, rpcmsg {d['rpcmsg_version']}",
        f"up {_uptime(d['uptime'])}; executor {ex['type']}: {ex['busy']} busy of "
        f"{ex['workers']} workers (at most {ex['max_workers']}); "
        f"{calls['handled']} requests handled, {calls['failed']} failed",
    ]
    for endpoint in d["endpoints"]:
        namespace = endpoint["namespace"]
        where = f"namespace {namespace!r}" if namespace else "default namespace"
        lines += ["", f"{endpoint['name']} ({where}, version {endpoint['version']})"]
        if endpoint.get("doc"):  # its first paragraph, on one line
            lines.append("  " + " ".join(endpoint["doc"].split("\n\n")[0].split()))
        for method in endpoint["methods"]:
            prefix = "async " if method.get("async") else ""
            lines.append(f"  {prefix}{method['name']}{method['signature']}")
            if method.get("doc"):  # its first paragraph; --json has the whole of it
                paragraph = method["doc"].split("\n\n")[0]
                lines.extend(f"      {line}" for line in paragraph.splitlines())
    return "\n".join(lines)


class _Collector:
    """The temporary endpoint ``status`` gathers the servers' answers with: its method is
    :data:`rpcmsg._introspect.REPORT_METHOD`."""

    def __init__(self, count: int | None) -> None:
        self.answers: list[dict[str, Any]] = []
        self._count = count
        self._lock = threading.Lock()
        self.enough = threading.Event()

    def report(self, ctxt: Any, server: dict[str, Any]) -> None:
        with self._lock:
            self.answers.append(server)
            if self._count is not None and len(self.answers) >= self._count:
                self.enough.set()


def _collector_session(args: argparse.Namespace, exchange: str) -> Session:
    """A session whose RPC server leaves nothing behind where the driver can tell: its own
    exchange, and auto-deleted queues on drivers with ``amqp_auto_delete``."""
    session = Session(args)
    for group, opts in driver_opts():
        register_group(session.conf, group, opts)
        if any(opt.dest == "amqp_auto_delete" for opt in opts):
            session.conf.set_override("amqp_auto_delete", True, group=group)
    session.conf.set_override("control_exchange", exchange)
    return session


def _row(d: dict[str, Any]) -> list[str]:
    ex, calls = d["executor"], d["calls"]
    return [
        str(d["server"]),
        f"{d['host']}:{d['pid']}",
        str(ex["type"]),
        f"{ex['busy']}/{ex['max_workers']}",
        str(calls["handled"]),
        str(calls["failed"]),
        _uptime(d["uptime"]),
    ]


def status(session: Session, args: argparse.Namespace) -> int:
    """List the servers of the topic that answer, with their load."""
    run_id = uuid.uuid4().hex[:12]
    exchange = f"{session.conf.control_exchange}-status-{run_id}"
    topic = f"rpcmsg-status-{run_id}"
    reply_to = {"exchange": exchange, "topic": topic, "fanout": True}
    collector = _Collector(args.count)
    with _collector_session(args, exchange) as own:
        server = get_rpc_server(
            own.rpc_transport(),
            Target(topic=topic, server="cli"),
            [collector],
            executor="threading",
        )
        server.start()
        try:
            client = get_rpc_client(
                session.rpc_transport(),
                Target(topic=args.topic, fanout=True),
                transport_options=TransportOptions(at_least_once=True),
            )
            client.cast({}, INTROSPECT_METHOD, reply_to=reply_to)
            collector.enough.wait(args.wait)
        finally:
            server.stop()
            server.wait()
    answers = sorted(collector.answers, key=lambda d: (str(d["server"]), d["pid"]))
    if args.json:
        print(json.dumps(answers, indent=2, ensure_ascii=False))
    elif answers:
        header = ["SERVER", "HOST:PID", "EXECUTOR", "BUSY/MAX", "HANDLED", "FAILED", "UPTIME"]
        rows = [header] + [_row(d) for d in answers]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if not answers:
        print(
            f"rpcmsg: no server of topic {args.topic!r} answered in {args.wait:g} s "
            "(servers answer with rpc_introspection_enabled = true)",
            file=sys.stderr,
        )
        return EXIT_NO_ANSWER
    return EXIT_OK


class _Terminated(Exception):
    pass


@contextmanager
def _sigterm_ends() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: Ctrl-C only
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(session: Session, args: argparse.Namespace) -> int:
    """Serve an object's public methods on the topic until Ctrl-C or SIGTERM."""
    endpoints = endpoints_from(args.object)
    if not args.no_introspection:
        session.conf.set_override("rpc_introspection_enabled", True)
    session.conf.set_override("rpc_ping_enabled", True)
    name = args.server or socket.gethostname()
    methods = sorted(
        n for e in endpoints for n, v in vars(type(e)).items() if inspect.isfunction(v)
    )
    transport = session.rpc_transport()
    server = get_rpc_server(transport, Target(topic=args.topic, server=name), endpoints)
    server.start()
    shown = TransportURL.parse(session.conf, session.url).to_string(mask=True)
    try:
        print(
            f"rpcmsg: serving {args.object} on topic {args.topic!r} server {name!r} at {shown} "
            f"({len(methods)} methods: {', '.join(methods)}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        with _sigterm_ends():
            try:
                while True:
                    time.sleep(3600)
            except _Terminated:
                return EXIT_OK
    finally:
        server.stop()
        server.wait()
