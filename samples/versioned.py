"""A versioned API: namespaces, compatible versions and a client version cap.

The server exposes two endpoints: ``compute`` at version 1.3 and ``storage`` at 2.0. A client
capped at 1.2 (as during a rolling upgrade, when some servers are still old) checks
``can_send_version`` and falls back to the older method; asking for more than its cap fails
locally with ``RPCVersionCapError``; asking a server for a version it lacks fails remotely with
``UnsupportedVersion``, which reaches the caller as a ``RemoteError`` (as in oslo.messaging:
its module is not in the transport's ``allowed_remote_exmods``).

    python samples/versioned.py [--url URL]
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from oslo_config import cfg

import rpcmsg


class ComputeV1:
    """Version 1.3 of the compute API: 1.0 had ``boot``, 1.3 added ``boot_with_flavor``."""

    target = rpcmsg.Target(namespace="compute", version="1.3")

    def boot(self, ctxt: dict[str, Any], name: str) -> str:
        return f"booted {name}"

    def boot_with_flavor(self, ctxt: dict[str, Any], name: str, flavor: str) -> str:
        return f"booted {name} as {flavor}"


class StorageV2:
    target = rpcmsg.Target(namespace="storage", version="2.0")

    def attach(self, ctxt: dict[str, Any], volume: str) -> str:
        return f"attached {volume}"


def boot(client: rpcmsg.RPCClient, name: str, flavor: str) -> Any:
    """What a versioned client API looks like: use 1.3 when allowed, else the 1.0 call."""
    if client.can_send_version("1.3"):
        return client.prepare(version="1.3").call({}, "boot_with_flavor", name=name, flavor=flavor)
    return client.prepare(version="1.0").call({}, "boot", name=name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="fake://", help="transport URL (default: fake://)")
    parser.add_argument("--exchange", help="control_exchange (default: openstack)")
    parser.add_argument("--topic", help="topic to use (default: a fresh one)")
    args = parser.parse_args(argv)

    if args.exchange:  # as a service sets its default exchange, before parsing its config
        rpcmsg.set_transport_defaults(control_exchange=args.exchange)
    conf = cfg.ConfigOpts()
    conf([], project="versioned")
    topic = args.topic or f"versioned-{uuid.uuid4().hex[:8]}"
    transport = rpcmsg.get_rpc_transport(conf, url=args.url)
    server = rpcmsg.get_rpc_server(
        transport, rpcmsg.Target(topic=topic, server="api-1"), [ComputeV1(), StorageV2()]
    )
    server.start()
    try:
        compute = rpcmsg.Target(topic=topic, namespace="compute")
        new = rpcmsg.get_rpc_client(transport, compute, timeout=10)
        old = rpcmsg.get_rpc_client(transport, compute, timeout=10, version_cap="1.2")
        print(f"uncapped client: {boot(new, 'vm1', 'm1.small')!r}")
        print(f"client capped at 1.2: {boot(old, 'vm2', 'm1.small')!r}  (fell back to 1.0)")

        try:
            old.prepare(version="1.3").call({}, "boot_with_flavor", name="x", flavor="y")
            print("unexpected: the version cap let 1.3 through")
            return 1
        except rpcmsg.RPCVersionCapError as exc:
            print(f"capped client refused locally: {exc}")

        try:
            new.prepare(version="2.0").call({}, "boot", name="vm3")
            print("unexpected: the server accepted compute 2.0")
            return 1
        except rpcmsg.RemoteError as exc:  # the dispatcher's module is not allowed: RemoteError
            if exc.exc_type != "UnsupportedVersion":
                raise
            print(f"server refused compute 2.0: {exc.exc_type}: {exc.value}")

        storage = rpcmsg.get_rpc_client(
            transport, rpcmsg.Target(topic=topic, namespace="storage", version="2.0"), timeout=10
        )
        print(f"storage namespace, version 2.0: {storage.call({}, 'attach', volume='vol-1')!r}")
        return 0
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
