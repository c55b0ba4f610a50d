"""Call requests: lists popped with ``BLMPOP``, the cheapest path Redis offers.

A call is at most once in the core (it is acknowledged when taken and its caller has its own
timeout), so it needs neither a consumer group nor an acknowledgement: the client pushes the
request onto ``P:c:<topic>`` (or ``P:c:<topic>.<server>``) and a server pops it. That is the
raw ``LPUSH``/``BLPOP`` floor plus rpcmsg's own work. A request popped by a server that dies
before answering is lost and its caller times out, exactly as with an acknowledged AMQP call.

A push succeeds only when the topic's stream exists (a server declared the topic), so a
request nobody will ever serve is refused at once, and it renews the list's expiry to the
longest timeout of the requests in it: a list whose servers are gone vanishes once no caller
can still be waiting (framing: :mod:`rpcmsg_drivers.redis.framing`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import cast

import redis

from rpcmsg_drivers.redis.connection import ClientFactory, close_client
from rpcmsg_drivers.redis.errors import REDIS_ERRORS
from rpcmsg_drivers.redis.framing import unframe_call
from rpcmsg_drivers.redis.inbox import Entry, Inbox

__all__ = ["CallReader"]

LOG = logging.getLogger(__name__)


class CallReader:
    """A thread popping call requests from ``keys`` (first keys first) into ``inbox``."""

    def __init__(
        self, factory: ClientFactory, keys: Sequence[str], inbox: Inbox, name: str
    ) -> None:
        self._factory = factory
        self._keys = list(keys)
        self._inbox = inbox
        self._popped = 0
        self._name = name
        self._client_id: int | None = None
        # Blocking pops end well before the socket timeout would call the connection dead.
        self._block = factory.settings.socket_timeout / 2
        self.thread = threading.Thread(target=self._run, name=f"rpcmsg-redis-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def unblock(self) -> None:
        """End a blocking pop at once (``stop``)."""
        if self._client_id is not None:
            try:
                self._factory.shared.client_unblock(self._client_id)
            except REDIS_ERRORS:  # its connection is gone anyway
                pass

    def _run(self) -> None:
        client: redis.Redis | None = None
        attempt = 0
        while not self._inbox.stopped:
            try:
                if client is None:
                    client = self._factory.dedicated(self._name, single=True)
                    self._client_id = int(client.client_id())
                room = self._inbox.wait_for_room(self._block)
                if not room or self._inbox.stopped:
                    continue
                popped = client.blmpop(
                    self._block, len(self._keys), *self._keys, direction="LEFT", count=room
                )
                attempt = 0
                if popped:
                    key, values = cast("tuple[bytes, list[bytes]]", popped)
                    self._deliver(key.decode(), values)
            except REDIS_ERRORS as exc:
                if self._inbox.stopped:
                    break
                delay = self._factory.settings.backoff(attempt)
                attempt += 1
                LOG.warning(
                    "Call reader %s lost Redis (%s); reconnecting in %.1fs", self._name, exc, delay
                )
                self._client_id = None
                close_client(client)
                client = None
                self._inbox.halt.wait(delay)
        close_client(client)

    def _deliver(self, key: str, values: list[bytes]) -> None:
        entries = []
        for value in values:
            body, content_type, expires = unframe_call(value)
            self._popped += 1
            entry_id = f"call-{self._popped}"
            entries.append(Entry(key, entry_id, body, content_type, expires, False, True))
        self._inbox.add(entries)
