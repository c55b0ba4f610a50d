"""An oslo.messaging process for the interoperability tests, run with oslo.messaging's python.

Usage: ``oslo_peer.py MODE URL EXCHANGE TOPIC``; prints one JSON object per line on stdout.

The URL's query carries ``[oslo_messaging_rabbit]`` options, as for rpcmsg (stream fanout,
transient quorum queues, queue manager names...). Transports allow remote exceptions from
``configparser`` (``allowed_remote_exmods``).

* ``server``: an RPC server (server name ``oslo``, endpoint version 1.5) with ``echo``,
  ``context``, ``fail`` (``ValueError``), ``fail_allowed`` (``configparser.Error``),
  ``fail_private`` (a class of this script's, a module nobody allows), ``sleep`` and
  ``record`` (prints ``{"record": value}``); prints ``{"ready": true}`` once consuming and
  runs until stdin is closed.
* ``client``: calls ``echo``, ``context``, the three ``fail*`` and a missing method on the
  topic, ``sleep(2.5)`` with a 1 s call monitor, ``echo`` at versions 1.2 and 2.0, and
  through a client with ``version_cap="1.5"``; casts ``record(1)``, fanout-casts
  ``record("fanout")``; prints one object with what each gave (see ``outcome``).
* ``notify``: sends an ``info`` notification ``interop.event`` with payload ``{"n": 1}`` on
  topic TOPIC, then prints ``{"sent": true}``.
* ``listen``: a notification listener on TOPIC; prints ``{"ready": true}``, then each
  notification as ``{"priority", "event_type", "payload", "publisher_id", "ctxt"}``, until
  stdin is closed.

This file must not import rpcmsg: it stands for a foreign process on the wire.
"""

from __future__ import annotations

import configparser
import json
import sys
import threading
import time
from typing import Any

import oslo_messaging
from oslo_config import cfg

_out_lock = threading.Lock()


def emit(obj: Any) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class PeerError(Exception):
    """Defined in ``__main__``: no caller allows its module."""


def outcome(call: Any) -> list[Any]:
    """``["ok", result]``, ``["RemoteError", exc_type, first line]`` or ``[class name,
    is a configparser.Error, first line]`` for an exception."""
    try:
        return ["ok", call()]
    except oslo_messaging.RemoteError as exc:
        return ["RemoteError", exc.exc_type, str(exc.value).splitlines()[0]]
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        return [type(exc).__name__, isinstance(exc, configparser.Error), first]


class Endpoint:
    target = oslo_messaging.Target(version="1.5")

    def fail_allowed(self, ctxt: Any) -> None:
        raise configparser.Error("oslo config says no")

    def fail_private(self, ctxt: Any) -> None:
        raise PeerError("oslo private says no")

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def context(self, ctxt: Any) -> Any:
        return ctxt

    def fail(self, ctxt: Any) -> None:
        raise ValueError("oslo says no")

    def record(self, ctxt: Any, value: Any) -> None:
        emit({"record": value})

    def sleep(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"


class NotificationEndpoint:
    def info(
        self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, metadata: Any
    ) -> None:
        emit(
            {
                "priority": "info",
                "event_type": event_type,
                "payload": payload,
                "publisher_id": publisher_id,
                "ctxt": ctxt,
            }
        )


def main(mode: str, url: str, exchange: str, topic: str) -> None:
    conf = cfg.CONF  # oslo.messaging registers some options (tracing) on the global only
    conf([], project="oslo-peer")
    oslo_messaging.set_transport_defaults(exchange)
    if mode in ("server", "client"):
        transport = oslo_messaging.get_rpc_transport(
            conf, url, allowed_remote_exmods=["configparser"]
        )
    else:
        transport = oslo_messaging.get_notification_transport(conf, url)
    conf.set_override("control_exchange", exchange)
    if mode == "server":
        target = oslo_messaging.Target(topic=topic, server="oslo")
        server = oslo_messaging.get_rpc_server(
            transport, target, [Endpoint()], executor="threading"
        )
        server.start()
        emit({"ready": True})
        sys.stdin.read()
        server.stop()
        server.wait()
    elif mode == "client":
        client = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(topic=topic), timeout=15
        )
        result: dict[str, Any] = {
            "echo": client.call({}, "echo", value={"a": [1, "x"]}),
            "context": client.call({"user": "bob"}, "context"),
            "fail_allowed": outcome(lambda: client.call({}, "fail_allowed")),
            "fail_private": outcome(lambda: client.call({}, "fail_private")),
            "nomethod": outcome(lambda: client.call({}, "nope")),
            "v12": outcome(lambda: client.prepare(version="1.2").call({}, "echo", value=12)),
            "v20": outcome(lambda: client.prepare(version="2.0").call({}, "echo", value=20)),
        }
        capped = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(topic=topic), timeout=15, version_cap="1.5"
        )
        result["cap_can_send"] = [
            capped.can_send_version(),
            capped.can_send_version("1.2"),
            capped.can_send_version("1.6"),
        ]
        result["cap_v12"] = outcome(
            lambda: capped.prepare(version="1.2").call({}, "echo", value="capped")
        )
        result["cap_v16"] = outcome(lambda: capped.prepare(version="1.6").call({}, "echo", value=0))
        result["cap_cast_unversioned"] = outcome(lambda: capped.cast({}, "record", value="no"))
        try:
            client.call({}, "fail")
        except Exception as exc:  # the rpcmsg server's error, rebuilt by oslo
            result["fail"] = [type(exc).__name__, str(exc).splitlines()[0]]
        # Longer than the call monitor timeout: only keep-alive replies keep it going.
        monitored = client.prepare(call_monitor_timeout=1.0)
        result["monitored"] = monitored.call({}, "sleep", seconds=2.5)
        client.cast({}, "record", value=1)
        client.prepare(fanout=True).cast({}, "record", value="fanout")
        emit(result)
    elif mode == "notify":
        notifier = oslo_messaging.Notifier(
            transport, driver="messagingv2", publisher_id="oslo.peer", topics=[topic]
        )
        notifier.info({"user": "carol"}, "interop.event", {"n": 1})
        emit({"sent": True})
    elif mode == "listen":
        targets = [oslo_messaging.Target(topic=topic)]
        listener = oslo_messaging.get_notification_listener(
            transport, targets, [NotificationEndpoint()], executor="threading"
        )
        listener.start()
        emit({"ready": True})
        sys.stdin.read()
        listener.stop()
        listener.wait()
    transport.cleanup()


if __name__ == "__main__":
    main(*sys.argv[1:5])
