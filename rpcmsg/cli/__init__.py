"""The ``rpcmsg`` command line: talk to services over any transport URL from a shell.

Commands::

    rpcmsg call TOPIC METHOD [key=value ...] [--json '{...}'] [--server S] [--timeout T]
                [--namespace N] [--version V]              print the result as JSON
    rpcmsg cast TOPIC METHOD [key=value ...] [--fanout]    send without waiting
    rpcmsg notify TOPIC PRIORITY EVENT_TYPE PAYLOAD_JSON [--publisher-id P]
    rpcmsg listen TOPIC [--priority P] [--pool P] [--event-type REGEX] [--json] [--count N]
    rpcmsg ping TOPIC [--server S] [--count N]             round-trip time to a server
    rpcmsg describe TOPIC [--server S] [--json]            what a server serves, its load
    rpcmsg status TOPIC [--wait SECONDS] [--count N]       the servers of a topic, their load
    rpcmsg serve TOPIC module:object [--server S]          serve an object's public methods
    rpcmsg asyncapi [module:object] [--topic T]            an AsyncAPI 3.0 document
    rpcmsg bench [--url URL ...] [--quick] [--in-process] [--plot FILE.png] [--json FILE]
    rpcmsg drivers [--json]                                installed drivers

Global options (before the command): ``--config-file`` (repeatable, as in every oslo tool),
``--url`` (else ``$RPCMSG_TRANSPORT_URL``, else ``transport_url`` from the configuration),
``--exchange`` (``control_exchange``), ``--verbose``.

``key=value`` arguments: the value is read as JSON when it parses (``n=3``, ``ok=true``,
``tags='["a"]'``), else taken as a string (``name=world``).

Exit codes, for scripts:

====  ==========================================================================
0     success
1     the remote method raised: its class and message are printed on stderr
2     usage error: bad arguments, bad JSON, bad transport URL, unknown driver
3     no answer: the call or ping timed out, or no server listens on the topic
4     the broker failed: unreachable, refused the message
5     an unexpected local error (a bug: ``--verbose`` shows its traceback)
130   interrupted (Ctrl-C); ``listen`` ends this way
====  ==========================================================================

Every error is one line on stderr (``rpcmsg: error: ...``); ``--verbose`` adds tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from rpcmsg.cli._common import (
    EXIT_INTERRUPTED,
    CLIError,
    Session,
    describe_error,
)

__all__ = ["main"]

_EPILOG = (
    "exit codes: 0 ok, 1 remote error, 2 usage error, 3 no answer (timeout, no server), "
    "4 broker failure, 5 unexpected local error, 130 interrupted"
)


def _add_rpc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="the topic its servers listen on")
    p.add_argument("method", help="the method to run")
    # A default keeps argparse from listing the optional key=value among the required.
    p.add_argument("params", nargs="*", default=[], metavar="key=value", help="method arguments")
    p.add_argument("--json", dest="json_args", metavar="OBJECT", help="arguments as a JSON object")
    p.add_argument("--context", metavar="OBJECT", help="request context as a JSON object")
    p.add_argument("--server", help="send to this server of the topic only")
    p.add_argument("--namespace", help="the endpoint namespace")
    p.add_argument("--version", help="the API version of the request (e.g. 1.2)")
    p.add_argument("--retry", type=int, default=1, help="send retries (default 1; -1: forever)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rpcmsg`` (exposed for the documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="rpcmsg",
        description="Call, cast, notify and listen over an rpcmsg transport.",
        epilog=_EPILOG,
    )
    parser.add_argument(
        "--config-file", action="append", default=[], metavar="PATH",
        help="oslo.config file(s) to read (transport_url, control_exchange, driver options)",
    )  # fmt: skip
    parser.add_argument("--url", help="transport URL (default: $RPCMSG_TRANSPORT_URL or config)")
    parser.add_argument("--exchange", help="control_exchange to use (default: from config)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("call", help="call a method and print its result as JSON")
    _add_rpc_args(p)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    p.add_argument("--pretty", action="store_true", help="indent the JSON result")

    p = sub.add_parser("cast", help="send a method call without waiting for it")
    _add_rpc_args(p)
    p.add_argument("--fanout", action="store_true", help="to every server of the topic")

    p = sub.add_parser("notify", help="publish one notification")
    p.add_argument("topic", help="notification topic (published to TOPIC.PRIORITY)")
    p.add_argument("priority", help="audit, debug, info, warn, error, critical or sample")
    p.add_argument("event_type", help="e.g. compute.instance.create.end")
    p.add_argument("payload", metavar="PAYLOAD_JSON", help="the payload, any JSON value")
    p.add_argument("--publisher-id", default="rpcmsg-cli")
    p.add_argument(
        "--context",
        metavar="OBJECT",
        help="context as a JSON object (secret-looking keys are not sent)",
    )
    p.add_argument("--retry", type=int, default=1, help="send retries (default 1; -1: forever)")

    p = sub.add_parser("listen", help="print notifications as they arrive, until Ctrl-C")
    p.add_argument("topic", help="notification topic (listens to TOPIC.PRIORITY)")
    p.add_argument("--priority", action="append", help="only this priority (repeatable)")
    p.add_argument(
        "--pool",
        help="listen in this pool: it gets its own copy of each notification, shared with the "
        "pool's other members. Without it, listen competes with the services' own listeners "
        "and takes their notifications from them. On RabbitMQ a pool's queue outlives the "
        "command and keeps collecting copies (as with oslo.messaging): reuse its name",
    )
    p.add_argument("--event-type", metavar="REGEX", help="only event types matching REGEX")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--count", type=int, help="exit after N notifications")

    p = sub.add_parser("ping", help="check that a server is alive and time the round trip")
    p.add_argument("topic", help="the topic its servers listen on")
    p.add_argument("--server", help="ping this server of the topic")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default 5)")
    p.add_argument("--count", type=int, default=1, help="number of pings (default 1)")

    p = sub.add_parser(
        "describe",
        help="print a server's endpoints, methods, executor and counts "
        "(needs rpc_introspection_enabled = true on the server)",
    )
    p.add_argument("topic", help="the topic its servers listen on")
    p.add_argument("--server", help="describe this server of the topic (default: any one)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default 5)")
    p.add_argument("--json", action="store_true", help="the whole answer as JSON")

    p = sub.add_parser(
        "status",
        help="list the servers answering on a topic with their load "
        "(those with rpc_introspection_enabled = true)",
    )
    p.add_argument("topic", help="the topic its servers listen on")
    p.add_argument(
        "--wait", type=float, default=2.0,
        help="seconds to collect answers for (default 2)",
    )  # fmt: skip
    p.add_argument("--count", type=int, help="stop waiting once N servers answered")
    p.add_argument("--json", action="store_true", help="the answers as a JSON list")

    p = sub.add_parser(
        "serve",
        help="serve an object's public methods on a topic until Ctrl-C (no server to write)",
    )
    p.add_argument("topic", help="the topic to serve on")
    p.add_argument(
        "object", metavar="module:object",
        help="an instance, a class (made without arguments), a module (its public functions) "
        "or a list of them, e.g. statistics or mypkg.api:Service",
    )  # fmt: skip
    p.add_argument("--server", help="this server's name (default: the host name)")
    p.add_argument(
        "--no-introspection", action="store_true",
        help="do not answer describe/status (rpc_introspection_enabled is on by default here)",
    )  # fmt: skip

    p = sub.add_parser(
        "asyncapi",
        help="print an AsyncAPI 3.0 document of an object's endpoints (or of a running "
        "server's) as JSON",
    )
    p.add_argument(
        "object", metavar="module:object", nargs="?",
        help="as for serve; without it, the endpoints a running server of --topic describes "
        "(rpc_introspection_enabled = true on it)",
    )  # fmt: skip
    p.add_argument("--topic", help="the RPC topic (default: the object's name)")
    p.add_argument("--server", help="without module:object: describe this server of the topic")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for it")
    p.add_argument(
        "--notification-topic", default="notifications",
        help="topic of the notification methods (info, error...) (default notifications)",
    )  # fmt: skip
    p.add_argument("--title", help="the document's title (default: the object's name)")

    p = sub.add_parser("bench", help="run the benchmark workloads and print the table")
    p.add_argument(
        "--url", dest="bench_urls", action="append", metavar="URL",
        help="a transport URL to measure (repeatable; default: the global URL or fake://)",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    p.add_argument(
        "--in-process", action="store_true",
        help="run the servers in this process (default: a process of their own, but fake://)",
    )  # fmt: skip
    p.add_argument("--plot", metavar="FILE.png", help="draw latency and throughput (matplotlib)")
    p.add_argument("--json", dest="json_out", metavar="FILE", help="also write the figures")

    p = sub.add_parser("drivers", help="list the installed drivers and notification drivers")
    p.add_argument("--json", action="store_true", help="as JSON")
    return parser


def _run(args: argparse.Namespace) -> int:
    # Imported here so that ``rpcmsg --help`` stays fast and each command pulls only its needs.
    if args.command in ("call", "cast", "ping"):
        from rpcmsg.cli import _rpc

        with Session(args) as session:
            return int(getattr(_rpc, args.command)(session, args))
    if args.command in ("describe", "status", "serve"):
        from rpcmsg.cli import _ops

        with Session(args) as session:
            return int(getattr(_ops, args.command)(session, args))
    if args.command == "asyncapi":
        from rpcmsg.cli import _asyncapi

        return _asyncapi.asyncapi(args)
    if args.command in ("notify", "listen"):
        from rpcmsg.cli import _notify

        with Session(args) as session:
            return int(getattr(_notify, args.command)(session, args))
    if args.command == "bench":
        from rpcmsg.cli import _bench

        return _bench.bench(args)
    from rpcmsg.cli import _drivers

    return _drivers.drivers(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    args.url_source = "--url"
    if args.url is None:
        args.url = os.environ.get("RPCMSG_TRANSPORT_URL")
        args.url_source = "$RPCMSG_TRANSPORT_URL"
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.CRITICAL,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CLIError as exc:
        print(f"rpcmsg: error: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:
        code, line = describe_error(exc, args)
        if args.verbose:
            logging.getLogger("rpcmsg.cli").exception("command failed")
        print(f"rpcmsg: error: {line}", file=sys.stderr)
        return code
