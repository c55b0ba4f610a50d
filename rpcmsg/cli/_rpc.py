"""``rpcmsg call``, ``cast`` and ``ping``."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rpcmsg.cli._common import (
    EXIT_OK,
    EXIT_REMOTE,
    CLIError,
    Session,
    parse_json_object,
    parse_params,
)
from rpcmsg.rpc.client import RPCClient, get_rpc_client
from rpcmsg.rpc.dispatcher import PING_METHOD
from rpcmsg.target import Target
from rpcmsg.transport import TransportOptions

__all__ = ["call", "cast", "ping"]


def _client(session: Session, args: argparse.Namespace, **options: Any) -> RPCClient:
    target = Target(
        topic=args.topic,
        server=args.server,
        namespace=getattr(args, "namespace", None),
        version=getattr(args, "version", None),
        fanout=bool(getattr(args, "fanout", False)),
    )
    retry = getattr(args, "retry", 1)
    # Mandatory sends: a topic nobody listens on is reported at once where the driver can tell.
    return get_rpc_client(
        session.rpc_transport(),
        target,
        retry=None if retry < 0 else retry,
        transport_options=TransportOptions(at_least_once=True),
        **options,
    )


def _request(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    ctxt = parse_json_object(args.context, "--context") if args.context else {}
    return ctxt, parse_params(args.params, args.json_args)


def call(session: Session, args: argparse.Namespace) -> int:
    """Print the method's result as JSON."""
    ctxt, kwargs = _request(args)
    client = _client(session, args, timeout=args.timeout)
    result = client.call(ctxt, args.method, **kwargs)
    print(json.dumps(result, indent=2 if args.pretty else None, default=repr, ensure_ascii=False))
    return EXIT_OK


def cast(session: Session, args: argparse.Namespace) -> int:
    """Send and return once the broker took the message; prints nothing."""
    ctxt, kwargs = _request(args)
    _client(session, args).cast(ctxt, args.method, **kwargs)
    return EXIT_OK


def ping(session: Session, args: argparse.Namespace) -> int:
    """Call the servers' ping endpoint (``rpc_ping_enabled = true`` on their side)."""
    client = _client(session, args, timeout=args.timeout)
    who = f"topic {args.topic!r}" + (f" server {args.server!r}" if args.server else "")
    times: list[float] = []
    for _ in range(max(1, args.count)):
        start = time.perf_counter()
        try:
            client.call({}, PING_METHOD)
        except Exception as exc:
            remote_type = getattr(exc, "exc_type", None) or type(exc).__name__
            if remote_type.removesuffix("_Remote") == "NoSuchMethod":
                raise CLIError(
                    f"{who} is alive but does not answer pings: "
                    "set rpc_ping_enabled = true in the server's configuration",
                    EXIT_REMOTE,
                ) from exc
            raise
        times.append((time.perf_counter() - start) * 1000.0)
        print(f"pong from {who}: {times[-1]:.2f} ms", flush=True)
    if len(times) > 1:
        low, average, high = min(times), sum(times) / len(times), max(times)
        print(f"{len(times)} pongs: min {low:.2f} / avg {average:.2f} / max {high:.2f} ms")
    return EXIT_OK
