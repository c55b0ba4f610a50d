"""Test helpers shared by the pytest plugin and by users' own harnesses."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

from rpcmsg import _plugins
from rpcmsg.rpc.server import get_rpc_server
from rpcmsg.server import MessageHandlingServer
from rpcmsg.target import Target
from rpcmsg.transport import Transport

__all__ = ["RunningServer", "forget_fake_broker", "fresh_fake_url"]


def fresh_fake_url() -> str:
    """A ``fake://`` URL whose broker no other test shares."""
    return f"fake:///test-{uuid.uuid4().hex}"


def forget_fake_broker(url: str) -> None:
    """Drop the fake broker behind ``url`` (reached through the driver's entry point)."""
    driver = _plugins.load_driver_class("fake")
    forget = getattr(driver, "forget_broker", None)
    if forget is not None:
        forget(url.split(":///", 1)[-1] if ":///" in url else "")


class RunningServer:
    """A started RPC server, stopped and waited for on ``close()`` or context exit."""

    def __init__(
        self,
        transport: Transport,
        topic: str,
        endpoints: list[Any],
        server: str = "server",
        **kwargs: Any,
    ) -> None:
        self.target = Target(topic=topic, server=server)
        self.server: MessageHandlingServer = get_rpc_server(
            transport, self.target, endpoints, **kwargs
        )
        self.server.start()

    def close(self) -> None:
        self.server.stop()
        self.server.wait()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
