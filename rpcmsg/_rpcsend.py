"""The transport's half of an RPC send: address, envelope, send, and for a call the reply.

``Transport._send(target, ctxt, message, ...)`` (oslo.messaging's seam between the client and
the transport) lands here. The client has built ``message`` (``method``, ``args`` and the
optional ``namespace`` and ``version``) and serialized ``ctxt``; this adds the context, the
ids and the reply address, encodes, and hands the bytes to the driver.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rpcmsg import _calls, _observe

if TYPE_CHECKING:
    from rpcmsg.target import Target
    from rpcmsg.transport import Transport, TransportOptions

__all__ = ["send"]


def send(
    transport: Transport,
    target: Target,
    ctxt: Any,
    message: dict[str, Any],
    wait_for_reply: bool | None = None,
    timeout: float | None = None,
    call_monitor_timeout: float | None = None,
    retry: int | None = None,
    transport_options: TransportOptions | None = None,
) -> Any:
    """Send ``message`` with context ``ctxt`` to ``target``; for a call, return the result.

    Raises ``InvalidTarget`` without a topic (or for a call to a fanout target),
    ``TypeError`` when JSON cannot carry the message, ``MessageDeliveryFailure`` when its
    body exceeds ``max_message_size`` (nothing is sent), the driver's ``TransportDriverError``
    when the send fails, and for a call what the reply carries or ``MessagingTimeout``.
    The protocol (ids, context, reply fields, encoding) is :mod:`rpcmsg._calls`, shared
    with the async client.
    """
    hooks = _observe.hooks
    if hooks is not None:
        return hooks.send(
            _send,
            transport,
            target,
            ctxt,
            message,
            wait_for_reply,
            timeout,
            call_monitor_timeout,
            retry,
            transport_options,
        )
    return _send(
        transport,
        target,
        ctxt,
        message,
        wait_for_reply,
        timeout,
        call_monitor_timeout,
        retry,
        transport_options,
    )


def _send(
    transport: Transport,
    target: Target,
    ctxt: Any,
    message: dict[str, Any],
    wait_for_reply: bool | None,
    timeout: float | None,
    call_monitor_timeout: float | None,
    retry: int | None,
    transport_options: TransportOptions | None,
) -> Any:
    """:func:`send` without the observability hooks."""
    _calls.check_target(target, bool(wait_for_reply))
    if not target.exchange:
        target = target(exchange=transport._require_exchange(None))
    message = _calls.request(message, ctxt)
    mandatory = bool(transport_options and transport_options.at_least_once)
    driver = transport.driver
    limit = transport.max_message_size
    if not wait_for_reply:
        body = _calls.encode(message, limit, "a cast")
        driver.send(target, body, expiration=None, retry=retry, mandatory=mandatory)
        return None
    # One deadline for connecting, sending and waiting (rpcmsg.driver.base, "Deadlines").
    deadline = None if timeout is None else time.monotonic() + timeout
    replies = transport._replies
    msg_id = _calls.address_call(message, replies.address_by(deadline), call_monitor_timeout)
    body = _calls.encode(message, limit, "a call")
    q = replies.register(msg_id)
    try:
        driver.send(
            target,
            body,
            expiration=timeout,
            retry=retry,
            mandatory=mandatory,
            deadline=deadline,
        )
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return replies.wait(msg_id, q, left, call_monitor_timeout)
    finally:
        replies.unregister(msg_id)
